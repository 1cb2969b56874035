#include "train/pretrainer.h"

#include <glog/logging.h>
#include <torch/cuda.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <thread>
#include <tuple>

#include "cluster/interest_refresh.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/config_yaml.h"
#include "runtime/error.h"
#include "runtime/fault_injection.h"
#include "runtime/file_io.h"
#include "runtime/stop_request.h"
#include "train/adam.h"
#include "train/checkpoint.h"
#include "train/contrastive_loss.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"
#include "train/pretrain_step.h"

namespace missrec::train {

namespace fs = std::filesystem;

namespace {

// Keys the per-rank dropout generators ("drop").
constexpr uint64_t kDropoutPurpose = 0x64726f70ULL;

// For the network-fault tests: with MISSREC_FAULT="NAME@AT" rank 0 pauses for half of
// dist.timeout_s at point AT, so that a link taken down meanwhile hits this phase (the
// pause alone stays within the timeout).
void pause_if_armed(const char* name, int64_t at, const std::string& where, int rank, double seconds) {
  int64_t armed_at = -1;
  if (rank != 0 || !runtime::fault_armed(name, &armed_at) || armed_at != at) return;
  LOG(WARNING) << "fault injection: rank 0 pauses " << seconds << " s " << where;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

// The default generator of `device` (dropout draws on that device), as int64 bytes.
at::Tensor generator_state_as_longs(at::Device device) {
  at::Generator generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state().to(at::kLong);
}

void set_generator_state(at::Device device, const at::Tensor& longs) {
  at::Generator generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(longs.to(at::kByte).contiguous());
}

// What rank 0 read from the checkpoint and every rank needs, broadcast as one tensor.
struct ResumeHeader {
  int64_t resumed = 0;
  int64_t epoch = 0;
  int64_t step = 0;
  int64_t global_step = 0;
  int64_t optimizer_steps = 0;
  int64_t world_size = 0;        // of the run that wrote the checkpoint
  int64_t interest_rows = 0;     // 0: no interest tables saved
  int64_t rng_cpu_bytes = 0;     // per rank
  int64_t rng_device_bytes = 0;  // per rank; 0 unless both runs are on GPUs

  static constexpr int64_t ResumeHeader::*kFields[] = {
      &ResumeHeader::resumed,       &ResumeHeader::epoch,           &ResumeHeader::step,
      &ResumeHeader::global_step,   &ResumeHeader::optimizer_steps, &ResumeHeader::world_size,
      &ResumeHeader::interest_rows, &ResumeHeader::rng_cpu_bytes,   &ResumeHeader::rng_device_bytes};
  static constexpr int64_t kCount = sizeof(kFields) / sizeof(kFields[0]);

  at::Tensor to_tensor(at::Device device) const {
    at::Tensor tensor = at::empty({kCount}, at::kLong);
    for (int64_t i = 0; i < kCount; ++i) tensor.data_ptr<int64_t>()[i] = this->*kFields[i];
    return tensor.to(device);
  }
  static ResumeHeader from_tensor(const at::Tensor& tensor) {
    const at::Tensor host = tensor.to(at::kCPU).contiguous();
    CHECK_EQ(host.numel(), kCount);
    ResumeHeader header;
    for (int64_t i = 0; i < kCount; ++i) header.*kFields[i] = host.data_ptr<int64_t>()[i];
    return header;
  }
};

class Pretrainer {
 public:
  Pretrainer(const runtime::Config& config, runtime::Communicator& comm)
      : config_(config),
        comm_(comm),
        device_(comm.device()),
        run_dir_(config.run_dir()),
        checkpoints_dir_(run_dir_ + "/checkpoints"),
        dataset_(data::Dataset::open(config.data.dir)),
        features_(load_features(dataset_, config, device_)),
        model_(make_model(model_config_of(config, dataset_.text_dim(), dataset_.image_dim()),
                          static_cast<uint64_t>(config.run.seed), device_)),
        parameters_(*model_),
        adam_(parameters_, adam_options_of(config.train)),
        sync_(parameters_, comm,
              PretrainStep::scalar_count(static_cast<int64_t>(dataset_.domains().size()), comm.size())),
        loader_(dataset_, loader_options_of(config, "train", config.train.batch_size, comm)),
        step_(*model_, features_, parameters_, adam_, sync_, comm, step_settings()),
        metrics_(comm.rank() == 0 ? run_dir_ + "/metrics.jsonl" : "") {}

  int run(const PretrainRequest& request);

 private:
  StepSettings step_settings() const {
    StepSettings settings;
    settings.global_batch = config_.train.batch_size;
    settings.domains = static_cast<int64_t>(dataset_.domains().size());
    settings.negatives = config_.contrastive.negatives;
    settings.lambda = config_.loss.lambda;
    settings.gamma = config_.loss.gamma;
    settings.precision = config_.train.precision;
    return settings;
  }

  void initialise(const PretrainRequest& request);
  void refresh(int64_t epoch);
  // Runs the rest of `epoch`; returns false when a stop request or max_steps ended it.
  bool train_epoch(int64_t epoch, int64_t first_step);
  void save(int64_t epoch, int64_t next_step, int64_t steps_per_epoch);
  void log_progress(int64_t epoch, int64_t step, const std::vector<double>& sums);

  const runtime::Config& config_;
  runtime::Communicator& comm_;
  at::Device device_;
  std::string run_dir_;
  std::string checkpoints_dir_;
  data::Dataset dataset_;
  model::ItemFeatures features_;
  model::MissRec model_;
  ParameterSet parameters_;
  Adam adam_;
  GradientSync sync_;
  data::Loader loader_;
  PretrainStep step_;
  MetricsFile metrics_;
  cluster::InterestState interests_;
  int64_t global_step_ = 0;
  int64_t start_epoch_ = 0;
  int64_t start_step_ = 0;
  double last_refresh_s_ = 0.0;
  // Progress window since the last log line.
  StepTimes window_times_;
  int64_t window_steps_ = 0;
  double window_wall_ = 0.0;
  std::vector<double> window_sums_;
  Stopwatch window_clock_;
  // Whole-run rates for the ETA.
  double run_step_seconds_ = 0.0;
  int64_t run_steps_ = 0;
  std::string stopped_by_;
};

void Pretrainer::initialise(const PretrainRequest& request) {
  seed_rank_generators(static_cast<uint64_t>(config_.run.seed), kDropoutPurpose, comm_.rank());

  const std::string config_yaml = runtime::to_yaml(config_);
  create_run_directory(run_dir_, comm_);
  if (comm_.rank() == 0) runtime::write_file_atomically(run_dir_ + "/config.yaml", config_yaml);

  ResumeHeader header;
  TrainingState state;
  if (!request.resume.empty() && comm_.rank() == 0) {
    const std::string dir = resolve_and_read_checkpoint(request.resume, checkpoints_dir_, &state);
    load_parameters(*model_, state.model, dir + "/state.h5");
    adam_.load_state(state.optimizer_steps, state.moments, dir + "/state.h5");
    if (state.config_hash != config_hash(config_yaml)) {
      LOG(WARNING) << "the configuration differs from the checkpoint's (" << dir
                   << "/config.yaml); continuing with the new one";
    }
    LOG(INFO) << "resuming from " << dir << " at epoch " << state.epoch + 1 << ", step " << state.step
              << " (global step " << state.global_step << ")";
    header.resumed = 1;
    header.epoch = state.epoch;
    header.step = state.step;
    header.global_step = state.global_step;
    header.optimizer_steps = state.optimizer_steps;
    header.world_size = state.world_size;
    header.interest_rows = state.interest_embeddings.defined() ? state.interest_embeddings.size(0) : 0;
    header.rng_cpu_bytes = state.rng_cpu.defined() ? state.rng_cpu.size(1) : 0;
    header.rng_device_bytes = state.rng_device.defined() && device_.is_cuda() ? state.rng_device.size(1) : 0;
  }
  at::Tensor header_tensor = header.to_tensor(device_);
  comm_.broadcast(header_tensor, 0);
  header = ResumeHeader::from_tensor(header_tensor);
  broadcast_module(*model_, comm_, 0);
  verify_same_on_all_ranks(module_checksum(*model_), "initial parameters", comm_);
  if (header.resumed == 0) return;

  start_epoch_ = header.epoch;
  start_step_ = header.step;
  global_step_ = header.global_step;
  // Optimizer moments, flat in parameter order.
  at::Tensor moments = at::zeros({2 * parameters_.numel()}, at::TensorOptions().device(device_));
  if (comm_.rank() == 0) {
    int64_t offset = 0;
    for (int part = 0; part < 2; ++part) {
      for (const auto& entry : parameters_.entries()) {
        const Adam::Moments& m = adam_.moments().at(entry.name);
        moments.narrow(0, offset, entry.tensor.numel()).copy_((part == 0 ? m.exp_avg : m.exp_avg_sq).reshape({-1}));
        offset += entry.tensor.numel();
      }
    }
  }
  comm_.broadcast(moments, 0);
  {
    int64_t offset = 0;
    std::map<std::string, Adam::Moments> restored;
    for (int part = 0; part < 2; ++part) {
      for (const auto& entry : parameters_.entries()) {
        at::Tensor value = moments.narrow(0, offset, entry.tensor.numel()).view_as(entry.tensor).clone();
        (part == 0 ? restored[entry.name].exp_avg : restored[entry.name].exp_avg_sq) = value;
        offset += entry.tensor.numel();
      }
    }
    adam_.load_state(header.optimizer_steps, restored, "checkpoint");
  }
  if (header.interest_rows > 0) {
    interests_.interest_embeddings = state.interest_embeddings;
    interests_.text_interest = state.text_interest;
    interests_.image_interest = state.image_interest;
    cluster::broadcast_interests(interests_, dataset_.total_items() + 1, config_.model.hidden_size, comm_);
  }
  if (header.world_size != comm_.size()) {
    // The global batches, the epoch order and the augmentation draws do not depend on the
    // rank count; the per-rank dropout generators do, so they start afresh, keyed on the
    // global step as well.
    seed_rank_generators(static_cast<uint64_t>(config_.run.seed) ^ static_cast<uint64_t>(global_step_), kDropoutPurpose,
                         comm_.rank());
    if (comm_.rank() == 0) {
      LOG(INFO) << "elastic resume: the checkpoint was written by " << header.world_size << " ranks, this run has "
                << comm_.size() << "; dropout generators re-derived from (seed, global step " << global_step_
                << ", rank)";
    }
  } else {
    for (const auto& [generator, bytes, saved] :
         {std::tuple{at::Device(at::kCPU), header.rng_cpu_bytes, &state.rng_cpu},
          std::tuple{device_, header.rng_device_bytes, &state.rng_device}}) {
      if (bytes == 0) continue;
      at::Tensor rng = comm_.rank() == 0
                           ? saved->to(device_)
                           : at::zeros({comm_.size(), bytes}, at::TensorOptions().dtype(at::kLong).device(device_));
      comm_.broadcast(rng, 0);
      set_generator_state(generator, rng[comm_.rank()].to(at::kCPU));
    }
  }
  if (comm_.rank() == 0) {
    metrics_.write(JsonLine()
                       .add("kind", std::string("resume"))
                       .add("epoch", start_epoch_)
                       .add("step", start_step_)
                       .add("global_step", global_step_));
  }
}

void Pretrainer::refresh(int64_t epoch) {
  Stopwatch clock;
  LOG(INFO) << "epoch " << epoch + 1 << ": interest refresh started";
  // The other ranks wait in the refresh's first collective meanwhile.
  pause_if_armed("pause-refresh", epoch + 1, "in the interest refresh of epoch " + std::to_string(epoch + 1),
                 comm_.rank(), config_.dist.timeout_s / 2);
  model_->eval();
  interests_ = cluster::refresh_interests(*model_, features_, config_.cluster, comm_);
  interests_.interest_embeddings = interests_.interest_embeddings.to(device_);
  interests_.text_interest = interests_.text_interest.to(at::kCPU);
  interests_.image_interest = interests_.image_interest.to(at::kCPU);
  model_->train();
  last_refresh_s_ = clock.lap();
  LOG(INFO) << "epoch " << epoch + 1 << ": interest refresh (DPC-KNN, " << interests_.clusters
            << " interests, k=" << interests_.knn_k << ") took " << last_refresh_s_ << " s";
}

void Pretrainer::save(int64_t epoch, int64_t next_step, int64_t steps_per_epoch) {
  Stopwatch clock;
  TrainingState state;
  const bool epoch_done = next_step >= steps_per_epoch;
  state.epoch = epoch_done ? epoch + 1 : epoch;
  state.step = epoch_done ? 0 : next_step;
  state.global_step = global_step_;
  state.world_size = comm_.size();
  state.rng_cpu = comm_.allgather(generator_state_as_longs(at::kCPU).to(device_).unsqueeze(0)).to(at::kCPU);
  if (device_.is_cuda()) {
    state.rng_device = comm_.allgather(generator_state_as_longs(device_).to(device_).unsqueeze(0)).to(at::kCPU);
  }
  if (comm_.rank() != 0) return;
  state.model = parameters_on_host(*model_);
  state.optimizer_steps = adam_.steps();
  for (const auto& [name, moments] : adam_.moments()) {
    state.moments[name] = {moments.exp_avg.to(at::kCPU), moments.exp_avg_sq.to(at::kCPU)};
  }
  if (interests_.interest_embeddings.defined()) {
    state.interest_embeddings = interests_.interest_embeddings.to(at::kCPU, at::kFloat);
    state.text_interest = interests_.text_interest;
    state.image_interest = interests_.image_interest;
  }
  state.config_yaml = runtime::to_yaml(config_);
  state.config_hash = config_hash(state.config_yaml);
  // Staged but not yet in place: long enough for a job that loses a host meanwhile to end.
  const auto half_written = [&] {
    pause_if_armed("pause-checkpoint", global_step_,
                   "with the checkpoint of global step " + std::to_string(global_step_) + " half written", comm_.rank(),
                   config_.dist.timeout_s + 60);
  };
  const std::string dir = write_checkpoint(checkpoints_dir_, state, config_.checkpoint.keep, half_written);
  const double seconds = clock.lap();
  uintmax_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) bytes += entry.file_size();
  LOG(INFO) << "checkpoint " << dir << " written: " << bytes / 1e6 << " MB in " << seconds << " s";
  metrics_.write(JsonLine()
                     .add("kind", std::string("checkpoint"))
                     .add("dir", dir)
                     .add("global_step", global_step_)
                     .add("bytes", static_cast<int64_t>(bytes))
                     .add("seconds", seconds));
}

void Pretrainer::log_progress(int64_t epoch, int64_t step, const std::vector<double>& sums) {
  const double batch = static_cast<double>(config_.train.batch_size);
  const double steps = static_cast<double>(std::max<int64_t>(window_steps_, 1));
  const double samples_per_s = window_wall_ > 0 ? window_steps_ * batch / window_wall_ : 0.0;
  const int64_t steps_per_epoch = loader_.steps_per_epoch();
  const int64_t remaining_steps = (config_.train.epochs - epoch - 1) * steps_per_epoch + (steps_per_epoch - step - 1);
  const double step_s = run_steps_ > 0 ? run_step_seconds_ / static_cast<double>(run_steps_) : 0.0;
  const double eta = remaining_steps * step_s + (config_.train.epochs - epoch - 1) * last_refresh_s_;
  const double seq_item = sums[kSeqItem] / (steps * batch);
  const double seq_seq = sums[kSeqSeq] / (steps * batch);
  const double reg = sums[kReg] / steps;
  const double reg_aug = sums[kRegAug] / steps;
  const double loss = seq_item + config_.loss.lambda * seq_seq + config_.loss.gamma * (reg + reg_aug);
  char line[512];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld step %lld/%lld | %.0f samples/s | ETA %s | loss %.4f (si %.4f ss %.4f "
                "reg %.3g/%.3g) | ms/step data %.1f fwd %.1f bwd %.1f comm %.1f opt %.1f | refresh %.1f s",
                static_cast<long long>(epoch + 1), static_cast<long long>(config_.train.epochs),
                static_cast<long long>(step + 1), static_cast<long long>(steps_per_epoch), samples_per_s,
                format_duration(eta).c_str(), loss, seq_item, seq_seq, reg, reg_aug, 1e3 * window_times_.data / steps,
                1e3 * window_times_.forward / steps, 1e3 * window_times_.backward / steps,
                1e3 * window_times_.comm / steps, 1e3 * window_times_.optimizer / steps, last_refresh_s_);
  LOG(INFO) << line;
}

bool Pretrainer::train_epoch(int64_t epoch, int64_t first_step) {
  const int64_t steps_per_epoch = loader_.steps_per_epoch();
  const size_t domains = dataset_.domains().size();
  auto tables = std::make_shared<data::InterestTables>();
  tables->text_interest = interests_.text_interest;
  tables->image_interest = interests_.image_interest;
  loader_.start_epoch(epoch, first_step, tables);
  const int64_t scalars = kFixedScalars + 2 * static_cast<int64_t>(domains);
  std::vector<double> epoch_sums(static_cast<size_t>(scalars), 0.0);
  window_sums_.assign(static_cast<size_t>(scalars), 0.0);
  window_times_ = StepTimes{};
  window_steps_ = 0;
  window_wall_ = 0.0;
  window_clock_.lap();
  StepTimes epoch_times;
  int64_t epoch_steps = 0;
  Stopwatch epoch_clock;

  // One batch ahead: each step carries the next batch's interest widths with its own
  // scalars, so only the epoch's first batch needs an exchange of its own.
  const auto next_batch = [&](int64_t step) {
    std::optional<data::Batch> batch = loader_.next();
    CHECK(batch.has_value()) << "loader ended before step " << step << " of " << steps_per_epoch;
    CHECK_EQ(batch->step, step);
    return batch;
  };
  std::optional<data::Batch> batch;
  for (int64_t step = first_step; step < steps_per_epoch; ++step) {
    StepTimes times;
    Stopwatch clock;
    if (!batch) {
      batch = next_batch(step);
      data::pad_interests_globally(*batch, comm_);
    }
    std::optional<data::Batch> next = step + 1 < steps_per_epoch ? next_batch(step + 1) : std::nullopt;
    times.data = clock.lap();

    const StepResult result =
        step_.run(*batch, interests_.interest_embeddings, runtime::stop_requested(), next ? &*next : nullptr);
    if (next) data::pad_interest_columns(*next, result.next_view_width, result.next_aug_width);
    batch = std::move(next);
    times.forward = result.times.forward;
    times.backward = result.times.backward;
    times.comm = result.times.comm;
    times.optimizer = result.times.optimizer;
    const std::vector<double>& sums = result.sums;
    const double batch_size = static_cast<double>(config_.train.batch_size);
    const double total = result.loss;
    ++global_step_;

    for (size_t i = 0; i < sums.size(); ++i) {
      epoch_sums[i] += sums[i];
      window_sums_[i] += sums[i];
    }
    epoch_times += times;
    window_times_ += times;
    ++epoch_steps;
    ++window_steps_;
    run_step_seconds_ += times.total();
    ++run_steps_;

    if (comm_.rank() == 0) {
      JsonLine domain_losses;
      for (size_t d = 0; d < domains; ++d) {
        const double count = sums[kFixedScalars + domains + d];
        if (count > 0) domain_losses.add(dataset_.domains()[d].name, sums[kFixedScalars + d] / count);
      }
      metrics_.write(JsonLine()
                         .add("kind", std::string("step"))
                         .add("epoch", epoch + 1)
                         .add("step", step + 1)
                         .add("global_step", global_step_)
                         .add("loss", total)
                         .add("seq_item", sums[kSeqItem] / batch_size)
                         .add("seq_seq", sums[kSeqSeq] / batch_size)
                         .add("reg", sums[kReg])
                         .add("reg_aug", sums[kRegAug])
                         .add("domain_seq_item", domain_losses)
                         .add("samples_per_s", batch_size / std::max(times.total(), 1e-9))
                         .add("time_s", step_times_json(times, 1.0)));
    }
    const bool last_step = step + 1 == steps_per_epoch;
    if ((step + 1) % config_.train.log_every == 0 || last_step) {
      window_wall_ = window_clock_.lap();
      if (comm_.rank() == 0) log_progress(epoch, step, window_sums_);
      window_sums_.assign(window_sums_.size(), 0.0);
      window_times_ = StepTimes{};
      window_steps_ = 0;
    }
    const bool stop = sums[kStopFlag] > 0.0;
    const bool max_steps = config_.train.max_steps > 0 && global_step_ >= config_.train.max_steps;
    if (stop || max_steps) {
      stopped_by_ = stop ? "signal" : "max_steps";
      if (stop) {
        LOG(INFO) << "stop requested (" << sums[kStopFlag] << " rank(s) got SIGTERM/SIGUSR1): "
                  << "writing a checkpoint after global step " << global_step_;
      } else {
        LOG(INFO) << "train.max_steps=" << config_.train.max_steps << " reached";
      }
      save(epoch, step + 1, steps_per_epoch);
      return false;
    }
  }

  const double wall = epoch_clock.lap();
  const double batch_size = static_cast<double>(config_.train.batch_size);
  const double steps = static_cast<double>(std::max<int64_t>(epoch_steps, 1));
  if (comm_.rank() == 0) {
    JsonLine domain_losses;
    for (size_t d = 0; d < domains; ++d) {
      const double count = epoch_sums[kFixedScalars + domains + d];
      if (count > 0) domain_losses.add(dataset_.domains()[d].name, epoch_sums[kFixedScalars + d] / count);
    }
    const double seq_item = epoch_sums[kSeqItem] / (steps * batch_size);
    const double seq_seq = epoch_sums[kSeqSeq] / (steps * batch_size);
    metrics_.write(JsonLine()
                       .add("kind", std::string("epoch"))
                       .add("epoch", epoch + 1)
                       .add("steps", epoch_steps)
                       .add("global_step", global_step_)
                       .add("loss", seq_item + config_.loss.lambda * seq_seq +
                                        config_.loss.gamma * (epoch_sums[kReg] + epoch_sums[kRegAug]) / steps)
                       .add("seq_item", seq_item)
                       .add("seq_seq", seq_seq)
                       .add("reg", epoch_sums[kReg] / steps)
                       .add("reg_aug", epoch_sums[kRegAug] / steps)
                       .add("domain_seq_item", domain_losses)
                       .add("samples_per_s", epoch_steps * batch_size / std::max(wall, 1e-9))
                       .add("refresh_s", last_refresh_s_)
                       .add("wall_s", wall)
                       .add("time_s", step_times_json(epoch_times, steps)));
    LOG(INFO) << "epoch " << epoch + 1 << " done: " << epoch_steps << " steps in " << format_duration(wall) << ", "
              << static_cast<int64_t>(epoch_steps * batch_size / std::max(wall, 1e-9)) << " samples/s, mean L_si "
              << seq_item << ", refresh " << last_refresh_s_ << " s";
  }
  const bool last_epoch = epoch + 1 == config_.train.epochs;
  if ((epoch + 1) % config_.checkpoint.every_epochs == 0 || last_epoch) {
    save(epoch, steps_per_epoch, steps_per_epoch);
  }
  return true;
}

int Pretrainer::run(const PretrainRequest& request) {
  initialise(request);
  const int64_t steps_per_epoch = loader_.steps_per_epoch();
  LOG(INFO) << "pretraining on " << dataset_.dir() << ": " << dataset_.domains().size() << " domains, "
            << dataset_.total_items() << " items, " << loader_.samples_per_epoch() << " train samples; "
            << steps_per_epoch << " steps of " << config_.train.batch_size << " per epoch ("
            << loader_.dropped_per_epoch() << " samples dropped per epoch), " << comm_.size() << " ranks on "
            << comm_.backend_name() << ", negatives " << runtime::name_of(config_.contrastive.negatives)
            << ", gradient buffer " << sync_.bytes() / 1e6 << " MB; run directory " << run_dir_;
  if (start_epoch_ >= config_.train.epochs) {
    LOG(INFO) << "the checkpoint is already at the end of the " << config_.train.epochs << " epochs";
    return runtime::kExitOk;
  }
  for (int64_t epoch = start_epoch_; epoch < config_.train.epochs; ++epoch) {
    const int64_t first_step = epoch == start_epoch_ ? start_step_ : 0;
    if (first_step == 0 || !interests_.interest_embeddings.defined()) refresh(epoch);
    if (!train_epoch(epoch, first_step)) break;
  }
  comm_.synchronize();
  if (stopped_by_ == "signal") {
    LOG(INFO) << "stopped by signal " << runtime::stop_signal() << " with a checkpoint; exit status "
              << runtime::kExitStoppedForRequeue << " asks the batch script to requeue";
    return runtime::kExitStoppedForRequeue;
  }
  LOG(INFO) << "pretraining finished after " << global_step_ << " steps; checkpoints in " << checkpoints_dir_;
  return runtime::kExitOk;
}

}  // namespace

int run_pretraining(const runtime::Config& config, const PretrainRequest& request, runtime::Communicator& comm) {
  runtime::install_stop_handlers();
  if (request.resume == "latest" && !fs::exists(config.run_dir() + "/checkpoints")) {
    runtime::throw_input_error("--resume latest", "no checkpoint under " + config.run_dir() + "/checkpoints");
  }
  Pretrainer trainer(config, comm);
  return trainer.run(request);
}

}  // namespace missrec::train
