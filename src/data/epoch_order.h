#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/keyed_permutation.h"

namespace missrec::data {

// Where one position of an epoch's order points: sample `row` of segment `segment`.
struct SampleRef {
  int segment = 0;
  int64_t row = 0;
};

// The epoch's global sample order: a uniformly random-looking permutation
// (KeyedPermutation) of every sample of every segment, keyed by (seed, epoch), as the
// public implementation shuffles the concatenated domains. Any sample may sit beside
// any other in a batch, so a user's prefixes rarely share one and serve as each other's
// negatives. It does not depend on the number of ranks: global batch t is positions
// [tB, (t+1)B) and rank r of P takes slice r. Holds one integer per segment, nothing
// per sample.
class EpochOrder {
 public:
  EpochOrder(const std::vector<SampleSegment>& segments, uint64_t seed, int64_t epoch);

  int64_t size() const { return permutation_.size(); }
  SampleRef at(int64_t position) const;

 private:
  std::vector<int64_t> segment_starts_;  // index of each segment's first sample, + total
  KeyedPermutation permutation_;         // position -> index over the concatenated segments
};

}  // namespace missrec::data
