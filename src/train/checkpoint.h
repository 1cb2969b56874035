#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "train/adam.h"

namespace missrec::train {

// Everything a run needs to continue exactly where it stopped.
struct TrainingState {
  int64_t epoch = 0;        // the epoch to run next
  int64_t step = 0;         // its first step (the data cursor)
  int64_t global_step = 0;  // optimizer steps taken so far
  int64_t world_size = 1;
  std::map<std::string, torch::Tensor> model;  // every parameter by public-implementation name
  int64_t optimizer_steps = 0;
  std::map<std::string, Adam::Moments> moments;
  // Interest tables in use (from the refresh at the start of `epoch` when step > 0).
  torch::Tensor interest_embeddings;
  torch::Tensor text_interest;
  torch::Tensor image_interest;
  torch::Tensor rng_cpu;     // [world_size, S] int64: each rank's CPU generator state bytes
  torch::Tensor rng_device;  // [world_size, S'] int64: each rank's GPU generator (GPU runs only)
  std::string config_yaml;
  std::string config_hash;
};

// A checkpoint directory: state.h5 (tensors and counters), config.yaml, and
// checkpoint.yaml written last with every file's checksum. Written under a temporary
// name, flushed and renamed; then <dir>/latest is repointed atomically and all but the
// newest `keep` checkpoints are removed. Returns the new directory. Throws InputError
// (the previous checkpoints untouched) when it cannot be written. `before_commit`, when
// given, runs once the files are staged and before the rename (the fault tests pause there).
std::string write_checkpoint(const std::string& checkpoints_dir, const TrainingState& state, int64_t keep,
                             const std::function<void()>& before_commit = nullptr);

// Reads and verifies (checksums, format, every dataset) one checkpoint directory;
// InputError naming the file and what is wrong otherwise.
TrainingState read_checkpoint(const std::string& dir);

// `spec` is "latest" (the newest valid checkpoint under checkpoints_dir: a corrupt one
// is skipped with a warning) or a checkpoint directory. Returns the directory read.
std::string resolve_and_read_checkpoint(const std::string& spec, const std::string& checkpoints_dir,
                                        TrainingState* state);

// Digest of a configuration text, recorded in checkpoints and exports.
std::string config_hash(const std::string& config_yaml);

}  // namespace missrec::train
