#include "train/training_loop.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>
#include <tuple>

#include "cluster/interest_refresh.h"
#include "runtime/comm.h"
#include "runtime/config_yaml.h"
#include "runtime/error.h"
#include "runtime/fault_injection.h"
#include "runtime/file_io.h"
#include "runtime/process_memory.h"
#include "runtime/stop_request.h"
#include "train/export.h"
#include "train/model_setup.h"
#include "train/precision.h"

namespace missrec::train {

namespace fs = std::filesystem;

Validation TrainingTask::validate(const data::InterestState&) {
  LOG(FATAL) << "validate() called on a task that does not validate";
  return {};
}

namespace {

// For the network-fault tests: with MISSREC_FAULT="NAME@AT" rank 0 pauses at point AT,
// so that a link taken down meanwhile hits this phase.
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

int64_t bits_of(double value) {
  int64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

double double_of(int64_t bits) {
  double value = 0.0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
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
  int64_t best_score_bits = 0;   // ValidationProgress, the score as its bits
  int64_t best_epoch = 0;
  int64_t epochs_without_gain = 0;

  static constexpr int64_t ResumeHeader::*kFields[] = {
      &ResumeHeader::resumed,         &ResumeHeader::epoch,           &ResumeHeader::step,
      &ResumeHeader::global_step,     &ResumeHeader::optimizer_steps, &ResumeHeader::world_size,
      &ResumeHeader::interest_rows,   &ResumeHeader::rng_cpu_bytes,   &ResumeHeader::rng_device_bytes,
      &ResumeHeader::best_score_bits, &ResumeHeader::best_epoch,      &ResumeHeader::epochs_without_gain};
  static constexpr int64_t kCount = sizeof(kFields) / sizeof(kFields[0]);

  void broadcast(runtime::Communicator& comm) {
    at::Tensor tensor = at::empty({kCount}, at::kLong);
    for (int64_t i = 0; i < kCount; ++i) tensor.data_ptr<int64_t>()[i] = this->*kFields[i];
    tensor = tensor.to(comm.device());
    comm.broadcast(tensor, 0);
    const at::Tensor host = tensor.to(at::kCPU).contiguous();
    for (int64_t i = 0; i < kCount; ++i) this->*kFields[i] = host.data_ptr<int64_t>()[i];
  }
};

ResumeHeader header_of(const TrainingState& state, at::Device device) {
  ResumeHeader header;
  header.resumed = 1;
  header.epoch = state.epoch;
  header.step = state.step;
  header.global_step = state.global_step;
  header.optimizer_steps = state.optimizer.steps;
  header.world_size = state.world_size;
  header.interest_rows = state.interests.defined() ? state.interests.interest_embeddings.size(0) : 0;
  header.rng_cpu_bytes = state.rng_cpu.defined() ? state.rng_cpu.size(1) : 0;
  header.rng_device_bytes = state.rng_device.defined() && device.is_cuda() ? state.rng_device.size(1) : 0;
  header.best_score_bits = bits_of(state.validation.best_score);
  header.best_epoch = state.validation.best_epoch;
  header.epochs_without_gain = state.validation.epochs_without_gain;
  return header;
}

// Copies `from` to `to` through a staged file and a rename; "" removes `to`.
void install_file(const std::string& from, const std::string& to) {
  std::error_code error;
  if (from.empty()) {
    fs::remove(to, error);
    return;
  }
  runtime::write_staged(to, [&](const std::string& staging) {
    fs::copy_file(from, staging, fs::copy_options::overwrite_existing, error);
    if (error) runtime::throw_output_error(to, "cannot restore the best model: " + error.message());
  });
}

}  // namespace

// Sums, times and counts of steps since the window opened.
struct TrainingLoop::Window {
  std::vector<double> sums;
  StepTimes times;
  int64_t steps = 0;
  int64_t samples = 0;
  Stopwatch clock;

  void add(const StepReport& report, const StepTimes& step_times, int64_t step_samples) {
    if (sums.size() < report.sums.size()) sums.resize(report.sums.size(), 0.0);
    for (size_t i = 0; i < report.sums.size(); ++i) sums[i] += report.sums[i];
    times += step_times;
    ++steps;
    samples += step_samples;
  }
  void reset() {
    sums.assign(sums.size(), 0.0);
    times = StepTimes{};
    steps = 0;
    samples = 0;
    clock.lap();
  }
};

void LoopScalars::put(torch::Tensor& scalars, bool stop_requested, const data::Batch* next, int rank) const {
  scalars.narrow(0, stop_slot, 1).fill_(stop_requested ? 1.0 : 0.0);
  if (next == nullptr) return;
  scalars.narrow(0, first_width + 2 * rank, 1).fill_(static_cast<double>(next->view.interest_seq.size(1)));
  scalars.narrow(0, first_width + 2 * rank + 1, 1).fill_(static_cast<double>(next->aug.interest_seq.size(1)));
}

void LoopScalars::read(const double* sums, bool had_next, int ranks, StepReport& report) const {
  report.stop_votes = sums[stop_slot];
  for (int rank = 0; had_next && rank < ranks; ++rank) {
    report.next_view_width = std::max<int64_t>(report.next_view_width, std::llround(sums[first_width + 2 * rank]));
    report.next_aug_width = std::max<int64_t>(report.next_aug_width, std::llround(sums[first_width + 2 * rank + 1]));
  }
}

void check_resume_request(const runtime::Config& config, const std::string& resume) {
  if (resume == "latest" && !fs::exists(config.run_dir() + "/checkpoints")) {
    runtime::throw_input_error("--resume latest", "no checkpoint under " + config.run_dir() + "/checkpoints");
  }
}

TrainingLoop::TrainingLoop(const runtime::Config& config, TrainingTask& task, runtime::Communicator& comm,
                           LoopOptions options)
    : config_(config),
      task_(task),
      comm_(comm),
      options_(options),
      checkpoints_dir_(config.run_dir() + "/checkpoints"),
      metrics_(comm.rank() == 0 ? config.run_dir() + "/metrics.jsonl" : "",
               comm.rank() == 0 ? config.run_dir() + "/tensorboard" : "") {}

void TrainingLoop::start(const std::string& resume) {
  check_precision_supported(config_.train.precision, comm_.device());
  seed_rank_generators(static_cast<uint64_t>(config_.run.seed), options_.generator_purpose, comm_.rank());
  const std::string config_yaml = runtime::to_yaml(config_);
  create_run_directory(config_.run_dir(), comm_);
  if (comm_.rank() == 0) runtime::write_file_atomically(config_.run_dir() + "/config.yaml", config_yaml);
  TrainingState state;
  std::string dir;
  if (!resume.empty() && comm_.rank() == 0) {
    dir = resolve_and_read_checkpoint(resume, checkpoints_dir_, &state);
    load_parameters(task_.parts().model, state.model, dir + "/state.h5");
    task_.parts().adam.load_state(state.optimizer, dir + "/state.h5");
    if (state.config_hash != config_hash(config_yaml)) {
      LOG(WARNING) << "the configuration differs from the checkpoint's (" << dir
                   << "/config.yaml); continuing with the new one";
    }
  }
  broadcast_module(task_.parts().model, comm_, 0);
  verify_same_on_all_ranks(module_checksum(task_.parts().model), "initial parameters", comm_);
  if (!resume.empty()) restore(state, dir);
}

// Every rank continues from what rank 0 read (`state` and `dir` on rank 0 only).
void TrainingLoop::restore(TrainingState& state, const std::string& dir) {
  ResumeHeader header = comm_.rank() == 0 ? header_of(state, comm_.device()) : ResumeHeader{};
  header.broadcast(comm_);
  start_epoch_ = header.epoch;
  start_step_ = header.step;
  global_step_ = header.global_step;
  progress_ = {double_of(header.best_score_bits), header.best_epoch, header.epochs_without_gain};
  Adam& adam = task_.parts().adam;
  comm_.broadcast(adam.exp_avg(), 0);
  comm_.broadcast(adam.exp_avg_sq(), 0);
  adam.set_steps(header.optimizer_steps);
  if (header.interest_rows > 0) {
    interests_ = state.interests;
    cluster::broadcast_interests(interests_, task_.parts().features.items() + 1, config_.model.hidden_size, comm_);
    interests_ = interests_.placed(comm_.device());
  }
  if (comm_.rank() == 0 && task_.validates()) install_file(state.best_model_file, best_model_path());
  if (header.world_size != comm_.size()) {
    // The global batches, the epoch order and the augmentation draws do not depend on the
    // rank count; the per-rank dropout generators do, so they start afresh, keyed on the
    // global step as well.
    seed_rank_generators(static_cast<uint64_t>(config_.run.seed) ^ static_cast<uint64_t>(global_step_),
                         options_.generator_purpose, comm_.rank());
    LOG_IF(INFO, comm_.rank() == 0) << "elastic resume: the checkpoint was written by " << header.world_size
                                    << " ranks, this run has " << comm_.size()
                                    << "; dropout generators re-derived from (seed, global step " << global_step_
                                    << ", rank)";
  } else {
    for (const auto& [generator, bytes, saved] :
         {std::tuple{at::Device(at::kCPU), header.rng_cpu_bytes, &state.rng_cpu},
          std::tuple{comm_.device(), header.rng_device_bytes, &state.rng_device}}) {
      if (bytes == 0) continue;
      at::Tensor rng = comm_.rank() == 0 ? saved->to(comm_.device())
                                         : at::zeros({comm_.size(), bytes},
                                                     at::TensorOptions().dtype(at::kLong).device(comm_.device()));
      comm_.broadcast(rng, 0);
      set_generator_state(generator, rng[comm_.rank()].to(at::kCPU));
    }
  }
  LOG_IF(INFO, comm_.rank() == 0) << "resuming from " << dir << " at epoch " << start_epoch_ + 1 << ", step "
                                  << start_step_ << " (global step " << global_step_ << ")";
  metrics_.write(JsonLine()
                     .add("kind", std::string("resume"))
                     .add("epoch", start_epoch_)
                     .add("step", start_step_)
                     .add("global_step", global_step_));
}

void TrainingLoop::refresh(int64_t epoch) {
  Stopwatch clock;
  LOG(INFO) << "epoch " << epoch + 1 << ": interest refresh started";
  // The other ranks wait in the refresh's first collective meanwhile.
  pause_if_armed("pause-refresh", epoch + 1, "in the interest refresh of epoch " + std::to_string(epoch + 1),
                 comm_.rank(), config_.dist.timeout_s / 2);
  task_.parts().model.eval();
  interests_ = cluster::refresh_interests(task_.parts().model, task_.parts().features, config_.cluster, comm_)
                   .placed(comm_.device());
  task_.parts().model.train();
  refresh_s_ = clock.lap();
  LOG(INFO) << "epoch " << epoch + 1 << ": interest refresh (DPC-KNN, " << interests_.clusters
            << " interests, k=" << interests_.knn_k << ") took " << refresh_s_ << " s";
}

TrainingLoop::EpochEnd TrainingLoop::train_epoch(int64_t epoch, int64_t first_step) {
  data::Loader& loader = task_.parts().loader;
  const int64_t steps_per_epoch = loader.steps_per_epoch();
  loader.start_epoch(epoch, first_step, std::make_shared<const data::InterestState>(interests_));
  Window epoch_window;
  Window window;
  // One batch ahead: each step carries the next batch's interest widths with its own
  // scalars, so only the epoch's first batch needs an exchange of its own.
  std::optional<data::Batch> batch;
  for (int64_t step = first_step; step < steps_per_epoch; ++step) {
    Stopwatch clock;
    if (!batch) {
      batch = loader.next();
      CHECK(batch.has_value()) << "loader ended before step " << step << " of " << steps_per_epoch;
      data::pad_interests_globally(*batch, comm_);
    }
    std::optional<data::Batch> next = step + 1 < steps_per_epoch ? loader.next() : std::nullopt;
    CHECK(next.has_value() || step + 1 == steps_per_epoch) << "loader ended before step " << step + 1;
    StepTimes times;
    times.data = clock.lap();
    const StepReport report = task_.step(*batch, interests_, runtime::stop_requested(), next ? &*next : nullptr);
    if (next) data::pad_interest_columns(*next, report.next_view_width, report.next_aug_width);
    const int64_t samples = batch->global_size;
    batch = std::move(next);
    times.forward = report.times.forward;
    times.backward = report.times.backward;
    times.comm = report.times.comm;
    times.optimizer = report.times.optimizer;
    ++global_step_;
    epoch_window.add(report, times, samples);
    window.add(report, times, samples);
    run_step_seconds_ += times.total();
    ++run_steps_;
    write_step_line(epoch, step, report, samples);
    const bool last_step = step + 1 == steps_per_epoch;
    if ((step + 1) % config_.train.log_every == 0 || last_step) {
      if (comm_.rank() == 0) log_progress(epoch, step, window);
      window.reset();
    }
    const bool max_steps = config_.train.max_steps > 0 && global_step_ >= config_.train.max_steps;
    if (report.stop_votes > 0.0 || max_steps) {
      stopped_by_ = report.stop_votes > 0.0 ? "signal" : "max_steps";
      if (report.stop_votes > 0.0) {
        LOG(INFO) << "stop requested (" << report.stop_votes << " rank(s) got SIGTERM/SIGUSR1): "
                  << "writing a checkpoint after global step " << global_step_;
      } else {
        LOG(INFO) << "train.max_steps=" << config_.train.max_steps << " reached";
      }
      // At the epoch's last step the epoch ends as usual (validation included) first.
      if (last_step) return end_epoch(epoch, epoch_window, true) ? EpochEnd::kCompleted : EpochEnd::kStopped;
      save(epoch, step + 1);
      return EpochEnd::kStopped;
    }
  }
  return end_epoch(epoch, epoch_window, false) ? EpochEnd::kCompleted : EpochEnd::kStopped;
}

void TrainingLoop::write_step_line(int64_t epoch, int64_t step, const StepReport& report, int64_t samples) {
  if (comm_.rank() != 0) return;
  const LossReport losses = task_.losses(report.sums, 1);
  JsonLine line;
  line.add("kind", std::string("step"))
      .add("epoch", epoch + 1)
      .add("step", step + 1)
      .add("global_step", global_step_)
      .add("loss", losses.total);
  for (const auto& [name, value] : losses.parts) line.add(name, value);
  line.merge(losses.extra);
  metrics_.write(line.add("lr", task_.parts().adam.lr())
                     .add("samples_per_s", static_cast<double>(samples) / std::max(report.times.total(), 1e-9))
                     .add("time_s", step_times_json(report.times, 1.0)));
}

void TrainingLoop::log_progress(int64_t epoch, int64_t step, const Window& window) const {
  const double wall = std::max(window.clock.elapsed(), 1e-9);
  const double steps = static_cast<double>(std::max<int64_t>(window.steps, 1));
  const int64_t steps_per_epoch = task_.parts().loader.steps_per_epoch();
  const int64_t epochs_left = config_.train.epochs - epoch - 1;
  const int64_t remaining_steps = epochs_left * steps_per_epoch + (steps_per_epoch - step - 1);
  const double step_s = run_steps_ > 0 ? run_step_seconds_ / static_cast<double>(run_steps_) : 0.0;
  const double eta = remaining_steps * step_s + epochs_left * (refresh_s_ + validation_s_);
  const LossReport losses = task_.losses(window.sums, window.steps);
  std::string parts;
  for (const auto& [name, value] : losses.parts) {
    char part[64];
    std::snprintf(part, sizeof part, "%s%s %.4g", parts.empty() ? "" : " ", name.c_str(), value);
    parts += part;
  }
  const StepTimes& t = window.times;
  char line[640];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld step %lld/%lld | %.0f samples/s | ETA %s | loss %.4f (%s) | ms/step data %.1f fwd "
                "%.1f bwd %.1f comm %.1f opt %.1f | refresh %.1f s",
                static_cast<long long>(epoch + 1), static_cast<long long>(config_.train.epochs),
                static_cast<long long>(step + 1), static_cast<long long>(steps_per_epoch), window.samples / wall,
                format_duration(eta).c_str(), losses.total, parts.c_str(), 1e3 * t.data / steps,
                1e3 * t.forward / steps, 1e3 * t.backward / steps, 1e3 * t.comm / steps, 1e3 * t.optimizer / steps,
                refresh_s_);
  LOG(INFO) << line;
}

bool TrainingLoop::end_epoch(int64_t epoch, const Window& epoch_window, bool stopping) {
  const double wall = epoch_window.clock.elapsed();
  const int64_t steps = epoch_window.steps;
  const LossReport losses = task_.losses(epoch_window.sums, steps);
  JsonLine line;
  line.add("kind", std::string("epoch"))
      .add("epoch", epoch + 1)
      .add("steps", steps)
      .add("global_step", global_step_)
      .add("loss", losses.total);
  for (const auto& [name, value] : losses.parts) line.add(name, value);
  line.merge(losses.extra);
  line.add("samples_per_s", epoch_window.samples / std::max(wall, 1e-9))
      .add("refresh_s", refresh_s_)
      .add("interests", interests_.clusters)
      .add("knn_k", interests_.knn_k)
      .add("wall_s", wall)
      .add("time_s", step_times_json(epoch_window.times, static_cast<double>(std::max<int64_t>(steps, 1))));
  std::string summary;
  if (task_.validates()) validate(epoch, line, summary);
  metrics_.write(line);
  LOG_IF(INFO, comm_.rank() == 0) << "epoch " << epoch + 1 << "/" << config_.train.epochs << " done: " << steps
                                  << " steps in " << format_duration(wall) << ", "
                                  << static_cast<int64_t>(epoch_window.samples / std::max(wall, 1e-9))
                                  << " samples/s, loss " << losses.total << ", refresh " << refresh_s_ << " s"
                                  << summary;
  const bool last_epoch = epoch + 1 == config_.train.epochs;
  const bool early_stop = stopped_early();
  if (early_stop) {
    LOG_IF(INFO, comm_.rank() == 0) << "early stop: no better validation score for " << progress_.epochs_without_gain
                                    << " epochs (best: epoch " << progress_.best_epoch << ", " << progress_.best_score
                                    << ")";
  }
  if ((epoch + 1) % config_.checkpoint.every_epochs == 0 || last_epoch || early_stop || stopping) {
    save(epoch + 1, 0);
  }
  return !early_stop && !stopping;
}

// Strictly better (unrounded): a tie keeps the earlier epoch, and a plateau counts
// towards the patience (docs/fine-tuning.md compares the public rule).
void TrainingLoop::validate(int64_t epoch, JsonLine& line, std::string& summary) {
  Stopwatch clock;
  const Validation validation = task_.validate(interests_);
  validation_s_ = clock.lap();
  const bool improved = validation.score > progress_.best_score;
  if (improved) {
    progress_ = {validation.score, epoch + 1, 0};
    if (comm_.rank() == 0) {
      write_native_export(current_export(task_.parts().model, config_, interests_, epoch + 1, global_step_),
                          best_model_path());
    }
  } else {
    ++progress_.epochs_without_gain;
  }
  line.merge(validation.metrics).add("best_epoch", progress_.best_epoch).add("valid_s", validation_s_);
  summary =
      " | " + validation.summary + (improved ? " (best)" : "") + ", validation " + std::to_string(validation_s_) + " s";
}

// The state after `epoch` (0-based) steps [0, next_step); next_step 0 with `epoch` the
// next epoch to run.
void TrainingLoop::save(int64_t epoch, int64_t next_step) {
  Stopwatch clock;
  TrainingState state;
  state.epoch = epoch;
  state.step = next_step;
  state.global_step = global_step_;
  state.world_size = comm_.size();
  const at::Device device = comm_.device();
  state.rng_cpu = comm_.allgather(generator_state_as_longs(at::kCPU).to(device).unsqueeze(0)).to(at::kCPU);
  if (device.is_cuda()) {
    state.rng_device = comm_.allgather(generator_state_as_longs(device).to(device).unsqueeze(0)).to(at::kCPU);
  }
  if (comm_.rank() != 0) return;
  state.model = parameters_on_host(task_.parts().model);
  state.optimizer = task_.parts().adam.state();
  state.interests = interests_.placed(at::kCPU);
  state.validation = progress_;
  if (task_.validates() && progress_.best_epoch > 0) state.best_model_file = best_model_path();
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

// Collective: every rank's peak resident memory, logged by rank 0.
void TrainingLoop::log_peak_memory() {
  const at::Tensor mine =
      at::full({1}, runtime::peak_rss_mb(), at::TensorOptions().dtype(at::kDouble).device(comm_.device()));
  const at::Tensor all = comm_.allgather(mine).to(at::kCPU);
  std::string text;
  for (int64_t r = 0; r < all.size(0); ++r) text += " " + std::to_string(std::llround(all[r].item<double>()));
  LOG_IF(INFO, comm_.rank() == 0) << "peak RSS per rank (MB):" << text;
}

int TrainingLoop::run(const std::string& resume) {
  runtime::install_stop_handlers();
  start(resume);
  if (start_epoch_ >= config_.train.epochs || stopped_early()) {
    LOG_IF(INFO, comm_.rank() == 0) << "the checkpoint is already at the end of the run ("
                                    << (stopped_early() ? "stopped early" : "all epochs done") << ")";
    return runtime::kExitOk;
  }
  for (int64_t epoch = start_epoch_; epoch < config_.train.epochs; ++epoch) {
    const int64_t first_step = epoch == start_epoch_ ? start_step_ : 0;
    if (first_step == 0 || !interests_.defined()) refresh(epoch);
    if (train_epoch(epoch, first_step) == EpochEnd::kStopped) break;
  }
  comm_.synchronize();
  log_peak_memory();
  if (stopped_by_ == "signal") {
    const int signal = runtime::stop_signal();
    LOG(INFO) << "stopped by "
              << (signal != 0 ? "signal " + std::to_string(signal) : std::string("another rank's signal"))
              << " with a checkpoint; exit status " << runtime::kExitStoppedForRequeue
              << " asks the batch script to requeue";
    return runtime::kExitStoppedForRequeue;
  }
  LOG(INFO) << options_.name << " finished after " << global_step_ << " steps; checkpoints in " << checkpoints_dir_;
  return runtime::kExitOk;
}

}  // namespace missrec::train
