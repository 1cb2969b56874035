#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "data/interest_state.h"
#include "train/adam.h"

namespace missrec::train {

// Validation progress of a run that validates (fine-tuning): what early stopping and
// the best model need to continue.
struct ValidationProgress {
  double best_score = -1.0;         // the best validation NDCG@10 so far (-1: none yet)
  int64_t best_epoch = 0;           // its epoch, 1-based (0: none yet)
  int64_t epochs_without_gain = 0;  // epochs since the best
};

// Everything a run needs to continue exactly where it stopped.
struct TrainingState {
  int64_t epoch = 0;        // the epoch to run next
  int64_t step = 0;         // its first step (the data cursor)
  int64_t global_step = 0;  // optimizer steps taken so far
  int64_t world_size = 1;
  std::map<std::string, torch::Tensor> model;  // every parameter by public-implementation name
  OptimizerState optimizer;
  // Interests in use (from the refresh at the start of `epoch` when step > 0).
  data::InterestState interests;
  ValidationProgress validation;
  // The best model so far (a native export), kept in the checkpoint as best.h5: the
  // file to copy in when writing; where it lies in the checkpoint when read ("" when
  // the checkpoint has none).
  std::string best_model_file;
  torch::Tensor rng_cpu;     // [world_size, S] int64: each rank's CPU generator state bytes
  torch::Tensor rng_device;  // [world_size, S'] int64: each rank's GPU generator (GPU runs only)
  std::string config_yaml;
  std::string config_hash;
};

// A checkpoint directory: state.h5 (tensors and counters), config.yaml, best.h5 when
// the state names a best model, and checkpoint.yaml written last with every file's
// checksum. Written under a temporary
// name, flushed and renamed; then <dir>/latest is repointed atomically and all but the
// newest `keep` checkpoints are removed. Returns the new directory. Throws InputError
// (the previous checkpoints untouched) when it cannot be written. `before_commit`, when
// given, runs once the files are staged and before the rename (the fault tests pause there).
std::string write_checkpoint(const std::string& checkpoints_dir, const TrainingState& state, int64_t keep,
                             const std::function<void()>& before_commit = nullptr);

// Reads and verifies (checksums, format, every dataset) one checkpoint directory;
// InputError naming the file and what is wrong otherwise. Format 1 (optimizer moments
// stored per parameter) reads into the flat layout.
TrainingState read_checkpoint(const std::string& dir);

// `spec` is "latest" (the newest valid checkpoint under checkpoints_dir: a corrupt one
// is skipped with a warning) or a checkpoint directory. Returns the directory read.
std::string resolve_and_read_checkpoint(const std::string& spec, const std::string& checkpoints_dir,
                                        TrainingState* state);

// Digest of a configuration text, recorded in checkpoints and exports.
std::string config_hash(const std::string& config_yaml);

}  // namespace missrec::train
