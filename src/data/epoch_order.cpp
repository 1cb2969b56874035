#include "data/epoch_order.h"

#include <glog/logging.h>

#include <algorithm>
#include <numeric>

#include "data/keyed_random.h"

namespace missrec::data {

EpochOrder::EpochOrder(const std::vector<SampleSegment>& segments, uint64_t seed, int64_t epoch) {
  int64_t total = 0;
  for (const SampleSegment& segment : segments) {
    segment_starts_.push_back(total);
    total += segment.size();
  }
  segment_starts_.push_back(total);
  permutation_.resize(static_cast<size_t>(total));
  std::iota(permutation_.begin(), permutation_.end(), 0);
  Rng rng(keyed_hash(seed, static_cast<uint64_t>(epoch), 0x5eed0dULL));
  shuffle(permutation_, rng);
}

SampleRef EpochOrder::at(int64_t position) const {
  CHECK(position >= 0 && position < size()) << position << " outside [0, " << size() << ")";
  const int64_t index = permutation_[static_cast<size_t>(position)];
  const int segment = static_cast<int>(std::upper_bound(segment_starts_.begin(), segment_starts_.end(), index) -
                                       segment_starts_.begin() - 1);
  return SampleRef{segment, index - segment_starts_[static_cast<size_t>(segment)]};
}

}  // namespace missrec::data
