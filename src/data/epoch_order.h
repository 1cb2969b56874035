#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace missrec::data {

// Where one position of an epoch's order points: sample `row` of segment `segment`.
struct SampleRef {
  int segment = 0;
  int64_t row = 0;
};

// The epoch's global sample order: one uniformly random permutation (Fisher-Yates) of
// every sample of every segment, seeded by (seed, epoch), as the public implementation
// shuffles the concatenated domains. Any sample may sit beside any other in a batch,
// so a user's prefixes rarely share one and serve as each other's negatives. It does
// not depend on the number of ranks: global batch t is positions [tB, (t+1)B) and rank
// r of P takes slice r. Holds 8 bytes per sample.
class EpochOrder {
 public:
  EpochOrder(const std::vector<SampleSegment>& segments, uint64_t seed, int64_t epoch);

  int64_t size() const { return static_cast<int64_t>(permutation_.size()); }
  SampleRef at(int64_t position) const;

 private:
  std::vector<int64_t> segment_starts_;  // index of each segment's first sample, + total
  std::vector<int64_t> permutation_;     // position -> index over the concatenated segments
};

}  // namespace missrec::data
