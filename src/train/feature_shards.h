#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "data/dataset.h"
#include "model/missrec_model.h"
#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// Whether a pretraining run on `ranks` ranks holds its item features sharded:
// data.feature_sharding, with auto sharding on more than one rank when the replicated
// tables (every item, every kind, in data.feature_dtype) exceed data.shard_above_mb.
bool shard_features(const runtime::DataConfig& data, const data::Dataset& dataset, int ranks);

// The bytes the tables of `features` hold.
int64_t feature_bytes(const model::ItemFeatures& features);

// Item features sharded over the ranks: rank r holds the rows of the global ids
// [first_id(r), first_id(r + 1)), first_id(r) = 1 + floor(r N / P): contiguous ranges in
// rank order, a fixed rule at every rank count. A step fetches the rows its batch needs
// from their owners in one exchange (the ids to their owners, the rows back: two
// alltoallv); the rows are copies of the stored values, so a step computes what it
// computes on replicated tables. Where the communicator has a duplicate (MPI on CPU
// tensors), the exchanges run on a thread of their own over it, so the next step's rows
// can be fetched while this step computes (prefetch).
class FeatureShards {
 public:
  FeatureShards(const data::Dataset& dataset, at::ScalarType dtype, runtime::Communicator& comm);
  ~FeatureShards();
  FeatureShards(const FeatureShards&) = delete;
  FeatureShards& operator=(const FeatureShards&) = delete;

  // This rank's rows (ids [first_id(rank), first_id(rank + 1)), `ids` defined): what the
  // interest refresh adapts on this rank.
  const model::ItemFeatures& own() const { return own_; }

  // Collective (every rank calls it once per step, for the same `key`s in the same
  // order): the rows of every id in `id_tensors` (host int64, any shapes, 0 = padding),
  // as sorted ids with their rows (the padding id's row zero). The rows prefetched for
  // `key` when there are some; else fetched now.
  model::ItemFeatures fetch(int64_t key, const std::vector<torch::Tensor>& id_tensors);

  // Collective, like fetch: starts fetching the rows for `key` (a later step's batch) on
  // the exchange thread, after fetch took the previous ones. Does nothing without one.
  void prefetch(int64_t key, const std::vector<torch::Tensor>& id_tensors);

  static int64_t first_id(int64_t items, int ranks, int rank) {
    return 1 + static_cast<int64_t>((static_cast<__int128>(rank) * items) / ranks);
  }

 private:
  // Rank 0 logs every rank's share: its ids and bytes (collective).
  void log_shares();
  // The two alltoallv of a fetch, over `comm`, for sorted distinct ids (host int64).
  model::ItemFeatures exchange(runtime::Communicator& comm, const torch::Tensor& ids) const;

  runtime::Communicator& comm_;
  std::unique_ptr<runtime::Communicator> exchange_comm_;  // the exchange thread's, or null
  std::future<model::ItemFeatures> pending_;              // the prefetch under way, for pending_key_
  int64_t pending_key_ = -1;
  // For the closing log line: fetches, those that took prefetched rows, the exchanges'
  // time and the time the step waited in fetch (microseconds).
  int64_t fetches_ = 0;
  int64_t prefetched_ = 0;
  mutable std::atomic<int64_t> exchange_us_{0};
  int64_t wait_us_ = 0;
  int64_t items_;
  torch::Tensor firsts_;  // [P + 1] int64 host: first_id(r) for r = 0..P
  model::ItemFeatures own_;
};

}  // namespace missrec::train
