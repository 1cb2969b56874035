#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "data/batch.h"
#include "data/dataset.h"
#include "data/epoch_share.h"

#include "runtime/config.h"

namespace missrec::data {

struct LoaderOptions {
  std::string split = "train";
  int64_t global_batch = runtime::TrainConfig{}.batch_size;  // split evenly over the ranks
  int rank = 0;
  int world_size = 1;
  int64_t prefetch = runtime::DataConfig{}.prefetch_batches;  // batches read ahead
  bool pin_memory = false;                                    // assemble batches in page-locked memory (for a GPU)
  // Keep the epoch's tail that does not fill a global batch as a last, smaller batch
  // (when it has at least one sample per rank); otherwise it is dropped.
  bool keep_partial = false;
  // The rank's share of the epoch is gathered a window of steps at a time, each window
  // about this many samples (36 bytes each plus their histories) and one scan of the
  // files: what the loader holds does not grow with the split, and a share of more
  // windows reads the files once per window.
  int64_t window_samples = int64_t{1} << 22;
  BatchOptions batch;
};

struct LoaderStats {
  int64_t batches = 0;
  int64_t samples = 0;
  int64_t bytes_read = 0;
  double wait_seconds = 0.0;  // time next() waited for the reader thread
};

// Streams a rank's slice of every global batch of an epoch: a background thread draws
// the epoch's uniform order, gathers the rank's share of it (EpochShare) and assembles
// batches ahead of the consumer. Deterministic given (seed, epoch, rank, world size);
// every sample is seen once per epoch across the ranks; the global batches do not
// depend on the number of ranks; the tail that does not fill a global batch is dropped,
// or is the last, smaller batch (LoaderOptions::keep_partial).
class Loader {
 public:
  Loader(const Dataset& dataset, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t samples_per_epoch() const { return samples_; }
  int64_t steps_per_epoch() const { return slice().full_steps + (slice().tail > 0 ? 1 : 0); }
  int64_t dropped_per_epoch() const { return samples_ - slice().full_steps * options_.global_batch - slice().tail; }
  // This rank's slice of every global batch of an epoch.
  RankSlice slice() const;

  // Starts streaming steps [first_step, steps_per_epoch()) of `epoch` with the given
  // interest tables (a resumed run passes its cursor as first_step).
  void start_epoch(int64_t epoch, int64_t first_step, std::shared_ptr<const InterestState> tables);
  // The next batch of the epoch, or nullopt at its end. Rethrows the reader's errors.
  std::optional<Batch> next();

  const LoaderStats& stats() const { return stats_; }

 private:
  void stop_reader();
  void read_epoch(int64_t epoch, int64_t first_step, std::shared_ptr<const InterestState> tables);
  // This rank's slice of global batch `step`, from the window's share.
  Batch make_batch(const EpochShare& share, const RankSlice& slice, int64_t epoch, int64_t step,
                   const InterestState& tables) const;
  // Waits for room in the queue and appends; false when the loader is stopping.
  bool queue_batch(Batch batch);

  const Dataset& dataset_;
  LoaderOptions options_;
  std::vector<SampleSegment> segments_;
  int64_t samples_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  bool epoch_done_ = true;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread reader_;
  LoaderStats stats_;
  int64_t reader_bytes_ = 0;
};

}  // namespace missrec::data
