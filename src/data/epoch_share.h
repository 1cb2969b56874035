#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/epoch_order.h"
#include "data/sample_reader.h"

namespace missrec::data {

// Which slice of every global batch a rank takes. The first `full_steps` global batches
// hold `global_batch` samples, `local()` per rank; a last partial batch (`tail` samples,
// 0 when none) is spread as evenly as the ranks allow, the lower ranks taking one more.
struct RankSlice {
  int64_t global_batch = 0;
  int rank = 0;
  int world_size = 1;
  int64_t full_steps = 0;
  int64_t tail = 0;
  int64_t local() const { return global_batch / world_size; }
  // Samples of global batch `step`, and this rank's count of them.
  int64_t global_size(int64_t step) const { return step < full_steps ? global_batch : tail; }
  int64_t count(int64_t step) const {
    return step < full_steps ? local() : tail / world_size + (rank < tail % world_size ? 1 : 0);
  }
  // Position in the epoch order of sample i of this rank's slice of global batch `step`.
  int64_t position(int64_t step, int64_t i) const {
    const int64_t first =
        step < full_steps ? rank * local() : rank * (tail / world_size) + std::min<int64_t>(rank, tail % world_size);
    return step * global_batch + first + i;
  }
};

// One sample of a rank's share: where it sits in the epoch order and in the files, its
// history (local item ids, oldest first) and its target (a local id).
struct ShareSample {
  int segment = 0;
  int64_t row = 0;
  int64_t position = 0;
  const int32_t* items = nullptr;
  int64_t length = 0;
  int32_t target = 0;
};

// The samples a rank takes at steps [first_step, end_step) of an epoch, with their
// histories held in memory: one sequential scan per segment file gathers them (a
// uniform order scatters a batch over the whole file, so per-batch reads would be one
// tiny read per sample). Holds 4 bytes per history item of the share's steps and 36
// bytes per sample of them; the loader takes an epoch a window of steps at a time.
class EpochShare {
 public:
  EpochShare(const std::vector<SampleSegment>& segments, const EpochOrder& order, const RankSlice& slice,
             int64_t first_step, int64_t end_step, SampleReader& reader);

  // Sample i of this rank's slice of global batch `step`.
  ShareSample at(int64_t step, int64_t i) const;

 private:
  RankSlice slice_;
  int64_t first_step_;
  std::vector<SampleRef> refs_;  // by share index: (step - first_step) * local + i (a partial step is last)
  std::vector<int64_t> begin_;   // share index -> first item in items_
  std::vector<int64_t> length_;  // share index -> history length
  std::vector<int32_t> target_;  // share index -> target (local id)
  std::vector<int32_t> items_;
};

}  // namespace missrec::data
