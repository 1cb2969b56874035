#include "train/train_bench.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/batch.h"
#include "data/keyed_random.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/process_memory.h"
#include "train/adam.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"
#include "train/pretrain_step.h"

namespace missrec::train {

namespace {

constexpr int64_t kFeatureDim = 512;
constexpr int64_t kMaxSeqLen = 50;

// History length of one training sample: a prefix of a user sequence whose length is
// drawn as the demo generator draws it (log-normal around 8.5, 4..80), capped at 50.
int64_t demo_length(data::Rng& rng) {
  const double log_length = std::log(8.5) + 0.7 * rng.normal();
  const int64_t user_length = std::clamp<int64_t>(std::lround(std::exp(log_length)), 4, 80);
  return std::min<int64_t>(1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(user_length - 1))), kMaxSeqLen);
}

// GEMM multiply-adds x2 of one forward+backward (x3 of forward) for the batch as the
// data needs it: per-sample history and interest lengths, adaptors on distinct rows.
double step_flops(const data::Batch& batch, int64_t hidden, int64_t inner, int64_t layers, int64_t global_batch,
                  int64_t distinct_items) {
  const double h = static_cast<double>(hidden);
  const double f = static_cast<double>(inner);
  double forward = 2.0 * 3.0 * static_cast<double>(distinct_items) * kFeatureDim * h;  // text, image, text_aug
  for (const data::BatchView* view : {&batch.view, &batch.aug}) {
    const at::Tensor lengths = view->item_length;
    const at::Tensor interests = view->interest_seq.ne(0).sum(1) + 1;
    for (int64_t b = 0; b < lengths.numel(); ++b) {
      const double n = static_cast<double>(lengths[b].item<int64_t>());
      const double u = static_cast<double>(interests[b].item<int64_t>());
      const double encoder = u * (4 * h * h + 2 * h * f) + 2 * u * u * h;
      const double decoder = n * (6 * h * h + 2 * h * f) + 2 * n * n * h + u * 2 * h * h + 2 * n * u * h;
      forward += 2.0 * (layers / 2) * (encoder + decoder);
    }
  }
  const double rows = static_cast<double>(batch.pos_item.numel());
  forward += 2.0 * 3.0 * rows * static_cast<double>(global_batch) * h;  // logits and L_ss
  return 3.0 * forward;
}

// Large matrix products on the step's device, in the step's matrix precision: what the
// machine's GEMM reaches, as the yardstick for the step's rate. Measured after every
// step, on every rank at once, so that the step and its yardstick share the machine's
// state (shared cores, clocks), which drifts from run to run.
class LargeGemm {
 public:
  LargeGemm(at::Device device, Precision precision) : device_(device) {
    const int64_t n = device.is_cuda() ? 8192 : 2048;
    const at::TensorOptions options = at::TensorOptions().device(device).dtype(
        precision == Precision::kBf16 && device.is_cuda() ? at::kBFloat16 : at::kFloat);
    a_ = at::randn({n, n}, options);
    b_ = at::randn({n, n}, options);
    c_ = at::mm(a_, b_);
    wait();
  }

  // The best of three timings (each of 20 products on a GPU, one on a CPU), into the
  // same output: the rate the machine reaches now.
  double gflops() {
    const int repeats = device_.is_cuda() ? 20 : 1;
    const double n = static_cast<double>(a_.size(0));
    double best = 0.0;
    for (int trial = 0; trial < 3; ++trial) {
      Stopwatch clock;
      for (int i = 0; i < repeats; ++i) at::mm_out(c_, a_, b_);
      wait();
      best = std::max(best, repeats * 2.0 * n * n * n / clock.lap() / 1e9);
    }
    return best;
  }

 private:
  void wait() {
    if (device_.is_cuda()) c_.sum().item<double>();  // the one way to wait for the device on every LibTorch
  }
  at::Device device_;
  at::Tensor a_, b_, c_;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

}  // namespace

std::string run_train_bench(const TrainBenchOptions& options, runtime::Communicator& comm) {
  const at::Device device = comm.device();
  model::ModelConfig config;  // the paper's defaults
  config.text_dim = kFeatureDim;
  config.image_dim = kFeatureDim;
  model::MissRec model = make_model(config, options.seed, device);
  model->train();

  auto generator = at::detail::createCPUGenerator(options.seed);
  const int64_t items = options.items;
  model::ItemFeatures features;
  const auto table = [&] {
    at::Tensor t = at::randn({items + 1, kFeatureDim}, generator);
    t = t / t.norm(2, 1, true);
    t[0].zero_();
    return t.to(device);
  };
  features.text = table();
  features.image = table();
  features.text_aug = table();
  const int64_t clusters = static_cast<int64_t>(std::ceil(2.0 * items * 0.02));
  const at::Tensor interest_embeddings = at::randn({clusters + 1, config.hidden_size}, generator).to(device);
  auto tables = std::make_shared<data::InterestTables>();
  tables->text_interest = at::randint(1, clusters + 1, {items + 1}, generator);
  tables->image_interest = at::randint(1, clusters + 1, {items + 1}, generator);
  tables->text_interest[0] = 0;
  tables->image_interest[0] = 0;

  ParameterSet parameters(*model);
  Adam adam(parameters, AdamOptions{});
  GradientSync sync(parameters, comm, PretrainStep::scalar_count(1, comm.size()));
  StepSettings settings;
  settings.global_batch = options.batch;
  settings.length_aware = !options.padded;
  settings.precision = options.precision;
  PretrainStep step(*model, features, parameters, adam, sync, comm, settings);

  const int64_t local = options.batch / comm.size();
  data::BatchOptions batch_options;
  batch_options.max_seq_len = kMaxSeqLen;
  batch_options.seed = options.seed;
  const auto make_batch = [&](int64_t index) {
    data::Rng rng(data::keyed_hash(options.seed, static_cast<uint64_t>(index), static_cast<uint64_t>(comm.rank())));
    std::vector<data::RawSample> samples(static_cast<size_t>(local));
    for (int64_t i = 0; i < local; ++i) {
      data::RawSample& sample = samples[static_cast<size_t>(i)];
      const int64_t length = options.lengths == "full" ? kMaxSeqLen : demo_length(rng);
      sample.history.resize(static_cast<size_t>(length));
      for (auto& item : sample.history) item = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(items)));
      sample.target = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(items)));
      sample.position = index * options.batch + comm.rank() * local + i;
    }
    data::Batch batch = data::build_batch(samples, 0, index, *tables, batch_options);
    data::pad_interests_globally(batch, comm);
    return batch;
  };

  LargeGemm large_gemm(device, settings.precision);
  StepTimes total;
  // Per timed step: this rank's wall time, model FLOPs and yardstick rate.
  std::vector<double> walls, step_flop_counts, gemm_rates;
  double history = 0.0;
  for (int64_t index = 0; index < options.steps + 2; ++index) {
    Stopwatch clock;
    const data::Batch batch = make_batch(index);
    const double data_s = clock.lap();
    const StepResult result = step.run(batch, interest_embeddings, false);
    comm.synchronize();
    const double step_s = clock.lap();
    if (index < 2) continue;  // warm-up: allocator and thread pools
    StepTimes times = result.times;
    times.data = data_s;
    total += times;
    walls.push_back(step_s);
    const at::Tensor distinct = std::get<0>(
        at::_unique(at::cat({batch.view.item_seq.reshape({-1}), batch.aug.item_seq.reshape({-1}), batch.pos_item})));
    step_flop_counts.push_back(
        step_flops(batch, config.hidden_size, config.inner_size, config.n_layers, options.batch, distinct.numel()));
    history += batch.view.item_length.to(at::kDouble).mean().item<double>();
    gemm_rates.push_back(large_gemm.gflops());
    comm.synchronize();
  }
  // Whole-job figures per step: the slowest rank's time, every rank's FLOPs and yardstick.
  const auto reduced = [&](const std::vector<double>& values, runtime::ReduceOp op) {
    at::Tensor t = at::tensor(values, at::kDouble).to(device);
    comm.allreduce(t, op);
    t = t.to(at::kCPU).contiguous();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  };
  const std::vector<double> job_walls = reduced(walls, runtime::ReduceOp::kMax);
  const std::vector<double> job_flops = reduced(step_flop_counts, runtime::ReduceOp::kSum);
  const std::vector<double> job_gemm = reduced(gemm_rates, runtime::ReduceOp::kSum);
  std::vector<double> fractions;
  double job_wall = 0.0;
  double job_flop_total = 0.0;
  for (size_t i = 0; i < job_walls.size(); ++i) {
    fractions.push_back(job_flops[i] / job_walls[i] / 1e9 / job_gemm[i]);
    job_wall += job_walls[i];
    job_flop_total += job_flops[i];
  }
  const double steps = static_cast<double>(options.steps);
  const double samples_per_s = steps * static_cast<double>(options.batch) / job_wall;
  const double model_gflops = job_flop_total / job_wall / 1e9;
  return JsonLine()
      .add("bench", std::string("train"))
      .add("batch", options.batch)
      .add("lengths", options.lengths)
      .add("mean_history", history / steps)
      .add("computation", std::string(options.padded ? "padded" : "length-aware"))
      .add("precision", runtime::name_of(options.precision))
      .add("device", device.str())
      .add("ranks", comm.size())
      .add("threads_per_rank", at::get_num_threads())
      .add("steps", options.steps)
      .add("samples_per_s", samples_per_s)
      .add("step_s", job_wall / steps)
      .add("split_s", step_times_json(total, steps))
      .add("peak_rss_mb", runtime::peak_rss_mb())
      .add("model_gflop_per_step", job_flop_total / steps / 1e9)
      .add("achieved_gflop_s", model_gflops)
      .add("large_gemm_gflop_s", median(job_gemm))
      .add("gemm_fraction", median(fractions))
      .str();
}

}  // namespace missrec::train
