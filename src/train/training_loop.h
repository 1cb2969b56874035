#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/batch.h"
#include "data/interest_state.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "runtime/config.h"
#include "train/adam.h"
#include "train/checkpoint.h"
#include "train/metrics_log.h"
#include "train/parameter_set.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// What one step reports. Every rank holds the same values: they were summed over the
// ranks in the step's one allreduce.
struct StepReport {
  std::vector<double> sums;     // the task's scalars, accumulated over steps by the loop
  double stop_votes = 0.0;      // ranks that had a stop request (SIGTERM/SIGUSR1) at this step
  int64_t next_view_width = 0;  // the next batch's global interest widths, when the step had one
  int64_t next_aug_width = 0;
  StepTimes times;  // forward, backward, comm, optimizer (data is the loop's)
};

// The slots every step's summed scalars carry beside its loss parts: this rank's stop
// vote at `stop_slot`, and each rank's next-batch local interest widths (view, aug) at
// first_width + 2 rank, so that their sum over the ranks lists every rank's and the next
// step needs no exchange of its own.
struct LoopScalars {
  int64_t stop_slot = 0;
  int64_t first_width = 0;

  // Writes the vote and `next`'s widths (when given) into the device tensor `scalars`.
  void put(torch::Tensor& scalars, bool stop_requested, const data::Batch* next, int rank) const;
  // Reads the summed votes and the global widths (the maximum over the ranks).
  void read(const double* sums, bool had_next, int ranks, StepReport& report) const;
};

// Loss parts of accumulated step sums: the total first (what the optimizer minimised),
// then named parts for the log, and anything else the metrics lines carry.
struct LossReport {
  double total = 0.0;
  std::vector<std::pair<std::string, double>> parts;
  JsonLine extra;
};

// A validation of the model at the end of an epoch.
struct Validation {
  double score = 0.0;   // higher is better; a strictly higher score is a new best
  JsonLine metrics;     // for the epoch's metrics line
  std::string summary;  // for the epoch's log line
};

// The pieces of a job the loop works on; the task owns them.
struct TaskParts {
  model::MissRecImpl& model;
  const model::ItemFeatures& features;
  Adam& adam;
  data::Loader& loader;
};

// What a training job supplies to the TrainingLoop: its model, optimizer and data, its
// step, how its step sums read as losses, and optionally a validation.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual TaskParts parts() = 0;
  // One optimizer step on this rank's slice of a global batch. `next`, when given, is the
  // following batch: it is copied ahead and its interest widths travel with this step's
  // scalars (StepReport::next_*_width). Throws before the update when the loss is not
  // finite.
  virtual StepReport step(const data::Batch& batch, const data::InterestState& interests, bool stop_requested,
                          const data::Batch* next) = 0;
  // The losses of `sums` accumulated over `steps` steps.
  virtual LossReport losses(const std::vector<double>& sums, int64_t steps) const = 0;
  // Whether the task validates after each epoch (and so keeps a best model and stops
  // early after finetune.patience epochs without a better score).
  virtual bool validates() const { return false; }
  virtual Validation validate(const data::InterestState& interests);
};

struct LoopOptions {
  std::string name;                // the job in log lines: "pretraining", "fine-tuning"
  uint64_t generator_purpose = 0;  // keys the per-rank dropout generators
  int64_t patience = 0;            // epochs without a better validation before stopping (validating tasks)
};

// Refuses `--resume latest` before a job loads anything when the run has no
// checkpoints directory (InputError naming it).
void check_resume_request(const runtime::Config& config, const std::string& resume);

// The one training schedule of every job: it owns the epochs, the interest refresh at the
// start of each, the steps and the agreed stop (SIGTERM/SIGUSR1 on any rank, or
// train.max_steps), validation with the best model and early stopping, checkpoints
// (every checkpoint.every_epochs, at the end and at a stop; with the RNG, the optimizer,
// the interests and the validation progress), resume, metrics.jsonl and the progress
// lines on rank 0. The task supplies only its step, its losses, its validation and its data.
class TrainingLoop {
 public:
  TrainingLoop(const runtime::Config& config, TrainingTask& task, runtime::Communicator& comm, LoopOptions options);

  // Trains from the start or from `resume` ("latest" or a checkpoint directory).
  // Returns runtime::kExitOk when the schedule finished (or stopped early) and
  // kExitStoppedForRequeue when a stop request ended it after a checkpoint.
  int run(const std::string& resume);

  // The run's best model (<run.dir>/best.h5, a native export) and its epoch, for
  // validating tasks.
  std::string best_model_path() const { return config_.run_dir() + "/best.h5"; }
  int64_t best_epoch() const { return progress_.best_epoch; }
  int64_t global_step() const { return global_step_; }
  const data::InterestState& interests() const { return interests_; }
  MetricsFile& metrics() { return metrics_; }

 private:
  struct Window;
  enum class EpochEnd { kCompleted, kStopped };

  void start(const std::string& resume);
  void restore(TrainingState& state, const std::string& dir);
  void refresh(int64_t epoch);
  EpochEnd train_epoch(int64_t epoch, int64_t first_step);
  // Validation, best model, early stopping, the epoch's lines and checkpoint; returns
  // false when the run ends here.
  bool end_epoch(int64_t epoch, const Window& epoch_sums, bool stopping);
  void validate(int64_t epoch, JsonLine& line, std::string& summary);
  void log_peak_memory();
  void save(int64_t epoch, int64_t next_step);
  void write_step_line(int64_t epoch, int64_t step, const StepReport& report, int64_t samples);
  void log_progress(int64_t epoch, int64_t step, const Window& window) const;
  bool stopped_early() const { return options_.patience > 0 && progress_.epochs_without_gain >= options_.patience; }

  const runtime::Config& config_;
  TrainingTask& task_;
  runtime::Communicator& comm_;
  LoopOptions options_;
  std::string checkpoints_dir_;
  MetricsFile metrics_;
  data::InterestState interests_;
  ValidationProgress progress_;
  int64_t start_epoch_ = 0;
  int64_t start_step_ = 0;
  int64_t global_step_ = 0;
  std::string stopped_by_;  // "", "signal" or "max_steps"
  double refresh_s_ = 0.0;
  double validation_s_ = 0.0;
  double run_step_seconds_ = 0.0;  // whole-run step time and count, for the ETA
  int64_t run_steps_ = 0;
};

}  // namespace missrec::train
