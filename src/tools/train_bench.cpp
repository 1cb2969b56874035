#include "tools/train_bench.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/batch.h"
#include "data/keyed_random.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/onednn_sgemm.h"
#include "runtime/process_memory.h"
#include "train/adam.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"
#include "train/precision.h"
#include "train/pretrain_step.h"

namespace missrec::tools {

using namespace missrec::train;  // NOLINT: this tool works on train's types

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
  LargeGemm(at::Device device, Precision precision)
      : device_(device),
        cpu_bf16_(precision == Precision::kBf16 && device.is_cpu() && runtime::has_onednn_bf16_gemm()) {
    const int64_t n = device.is_cuda() ? 8192 : 2048;
    const bool bf16 = precision == Precision::kBf16 && (device.is_cuda() || cpu_bf16_);
    const at::TensorOptions options = at::TensorOptions().device(device).dtype(bf16 ? at::kBFloat16 : at::kFloat);
    a_ = at::randn({n, n}, options);
    b_ = at::randn({n, n}, options);
    c_ = cpu_bf16_ ? at::empty({n, n}, options.dtype(at::kFloat)) : at::mm(a_, b_);
    multiply();
    wait();
  }

  // The best of three timings (each of 20 products on a GPU, one on a CPU), into the
  // same output: the rate the machine reaches now, in the step's precision.
  double gflops() {
    const int repeats = device_.is_cuda() ? 20 : 1;
    const double n = static_cast<double>(a_.size(0));
    double best = 0.0;
    for (int trial = 0; trial < 3; ++trial) {
      Stopwatch clock;
      for (int i = 0; i < repeats; ++i) multiply();
      wait();
      best = std::max(best, repeats * 2.0 * n * n * n / clock.lap() / 1e9);
    }
    return best;
  }

 private:
  // On a CPU in bf16, oneDNN's bf16 GEMM with float32 output (the linear layers' product).
  void multiply() {
    if (!cpu_bf16_) {
      at::mm_out(c_, a_, b_);
      return;
    }
    const int64_t n = a_.size(0);
    runtime::onednn_gemm_bf16(false, false, n, n, n, 1.0f, reinterpret_cast<const uint16_t*>(a_.data_ptr()), n,
                              reinterpret_cast<const uint16_t*>(b_.data_ptr()), n, 0.0f, c_.data_ptr<float>(), n);
  }

  void wait() {
    if (device_.is_cuda()) c_.sum().item<double>();  // the one way to wait for the device on every LibTorch
  }
  at::Device device_;
  bool cpu_bf16_ = false;
  at::Tensor a_, b_, c_;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

// Unit-norm random feature tables [items + 1, kFeatureDim] (row 0 zero) and random
// interest tables of 2% of 2N interests.
struct BenchInputs {
  model::ItemFeatures features;
  std::shared_ptr<data::InterestState> interests;
};

BenchInputs synthetic_inputs(const TrainBenchOptions& options, int64_t hidden, at::Device device) {
  auto generator = at::detail::createCPUGenerator(options.seed);
  const int64_t items = options.items;
  const auto table = [&] {
    at::Tensor t = at::randn({items + 1, kFeatureDim}, generator);
    t = t / t.norm(2, 1, true);
    t[0].zero_();
    return t.to(device);
  };
  BenchInputs inputs;
  inputs.features.text = table();
  inputs.features.image = table();
  inputs.features.text_aug = table();
  const int64_t clusters = static_cast<int64_t>(std::ceil(2.0 * items * 0.02));
  inputs.interests = std::make_shared<data::InterestState>();
  data::InterestState& interests = *inputs.interests;
  interests.interest_embeddings = at::randn({clusters + 1, hidden}, generator).to(device);
  interests.text_interest = at::randint(1, clusters + 1, {items + 1}, generator);
  interests.image_interest = at::randint(1, clusters + 1, {items + 1}, generator);
  interests.text_interest[0] = 0;
  interests.image_interest[0] = 0;
  return inputs;
}

// This rank's slice of synthetic global batch `index`: random items, demo-like or full
// history lengths.
data::Batch synthetic_batch(const TrainBenchOptions& options, const data::InterestState& interests,
                            runtime::Communicator& comm, int64_t index) {
  const int64_t local = options.batch / comm.size();
  data::BatchOptions batch_options;
  batch_options.max_seq_len = kMaxSeqLen;
  batch_options.seed = options.seed;
  data::Rng rng(data::keyed_hash(options.seed, static_cast<uint64_t>(index), static_cast<uint64_t>(comm.rank())));
  std::vector<data::RawSample> samples(static_cast<size_t>(local));
  for (int64_t i = 0; i < local; ++i) {
    data::RawSample& sample = samples[static_cast<size_t>(i)];
    const int64_t length = options.lengths == "full" ? kMaxSeqLen : demo_length(rng);
    sample.history.resize(static_cast<size_t>(length));
    for (auto& item : sample.history) item = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(options.items)));
    sample.target = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(options.items)));
    sample.position = index * options.batch + comm.rank() * local + i;
  }
  data::Batch batch = data::build_batch(samples, 0, index, interests, batch_options);
  data::pad_interests_globally(batch, comm);
  return batch;
}

// What the timed steps measured on this rank, one entry per step.
struct StepSamples {
  StepTimes total;
  std::vector<double> walls;       // wall time
  std::vector<double> flops;       // model FLOPs
  std::vector<double> gemm_rates;  // the yardstick GEMM's GFLOP/s
  double history = 0.0;            // sum of the batches' mean history lengths
};

StepSamples time_steps(const TrainBenchOptions& options, const model::ModelConfig& config, PretrainStep& step,
                       const data::InterestState& interests, runtime::Communicator& comm) {
  LargeGemm large_gemm(comm.device(), options.precision);
  StepSamples samples;
  for (int64_t index = 0; index < options.steps + 2; ++index) {
    Stopwatch clock;
    const data::Batch batch = synthetic_batch(options, interests, comm, index);
    const double data_s = clock.lap();
    const StepReport result = step.run(batch, interests.interest_embeddings, false);
    comm.synchronize();
    const double step_s = clock.lap();
    if (index < 2) continue;  // warm-up: allocator and thread pools
    StepTimes times = result.times;
    times.data = data_s;
    samples.total += times;
    samples.walls.push_back(step_s);
    const at::Tensor distinct = std::get<0>(
        at::_unique(at::cat({batch.view.item_seq.reshape({-1}), batch.aug.item_seq.reshape({-1}), batch.pos_item})));
    samples.flops.push_back(
        step_flops(batch, config.hidden_size, config.inner_size, config.n_layers, options.batch, distinct.numel()));
    samples.history += batch.view.item_length.to(at::kDouble).mean().item<double>();
    samples.gemm_rates.push_back(large_gemm.gflops());
    comm.synchronize();
  }
  return samples;
}

// Whole-job figures per step: the slowest rank's time, every rank's FLOPs and yardstick.
std::string job_report(const TrainBenchOptions& options, const StepSamples& samples, runtime::Communicator& comm) {
  const auto reduced = [&](const std::vector<double>& values, runtime::ReduceOp op) {
    at::Tensor t = at::tensor(values, at::kDouble).to(comm.device());
    comm.allreduce(t, op);
    t = t.to(at::kCPU).contiguous();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  };
  const std::vector<double> job_walls = reduced(samples.walls, runtime::ReduceOp::kMax);
  const std::vector<double> job_flops = reduced(samples.flops, runtime::ReduceOp::kSum);
  const std::vector<double> job_gemm = reduced(samples.gemm_rates, runtime::ReduceOp::kSum);
  std::vector<double> fractions;
  double job_wall = 0.0;
  double job_flop_total = 0.0;
  for (size_t i = 0; i < job_walls.size(); ++i) {
    fractions.push_back(job_flops[i] / job_walls[i] / 1e9 / job_gemm[i]);
    job_wall += job_walls[i];
    job_flop_total += job_flops[i];
  }
  const double steps = static_cast<double>(options.steps);
  return JsonLine()
      .add("bench", std::string("train"))
      .add("batch", options.batch)
      .add("lengths", options.lengths)
      .add("mean_history", samples.history / steps)
      .add("computation", std::string(options.padded ? "padded" : "length-aware"))
      .add("precision", runtime::name_of(options.precision))
      .add("device", comm.device().str())
      .add("ranks", comm.size())
      .add("threads_per_rank", at::get_num_threads())
      .add("steps", options.steps)
      .add("samples_per_s", steps * static_cast<double>(options.batch) / job_wall)
      .add("step_s", job_wall / steps)
      .add("split_s", step_times_json(samples.total, steps))
      .add("peak_rss_mb", runtime::peak_rss_mb())
      .add("model_gflop_per_step", job_flop_total / steps / 1e9)
      .add("achieved_gflop_s", job_flop_total / job_wall / 1e9)
      .add("large_gemm_gflop_s", median(job_gemm))
      .add("gemm_fraction", median(fractions))
      .str();
}

}  // namespace

std::string run_train_bench(const TrainBenchOptions& options, runtime::Communicator& comm) {
  check_precision_supported(options.precision, comm.device());
  model::ModelConfig config;  // the paper's defaults
  config.text_dim = kFeatureDim;
  config.image_dim = kFeatureDim;
  model::MissRec model = make_model(config, options.seed, comm.device());
  model->train();
  const BenchInputs inputs = synthetic_inputs(options, config.hidden_size, comm.device());
  ParameterSet parameters(*model, PretrainStep::scalar_count(1, comm.size()));
  Adam adam(parameters, AdamOptions{});
  GradientSync sync(parameters, comm);
  StepSettings settings;
  settings.global_batch = options.batch;
  settings.length_aware = !options.padded;
  settings.precision = options.precision;
  PretrainStep step(*model, inputs.features, parameters, adam, sync, comm, settings);
  const StepSamples samples = time_steps(options, config, step, *inputs.interests, comm);
  return job_report(options, samples, comm);
}

}  // namespace missrec::tools
