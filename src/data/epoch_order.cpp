#include "data/epoch_order.h"

#include <glog/logging.h>

#include <algorithm>

#include "data/keyed_random.h"

namespace missrec::data {

namespace {

int64_t total_samples(const std::vector<SampleSegment>& segments) {
  int64_t total = 0;
  for (const SampleSegment& segment : segments) total += segment.size();
  return total;
}

}  // namespace

EpochOrder::EpochOrder(const std::vector<SampleSegment>& segments, uint64_t seed, int64_t epoch)
    : permutation_(total_samples(segments), keyed_hash(seed, static_cast<uint64_t>(epoch), 0x5eed0dULL)) {
  int64_t total = 0;
  for (const SampleSegment& segment : segments) {
    segment_starts_.push_back(total);
    total += segment.size();
  }
  segment_starts_.push_back(total);
}

SampleRef EpochOrder::at(int64_t position) const {
  const int64_t index = permutation_(position);
  const int segment = static_cast<int>(std::upper_bound(segment_starts_.begin(), segment_starts_.end(), index) -
                                       segment_starts_.begin() - 1);
  return SampleRef{segment, index - segment_starts_[static_cast<size_t>(segment)]};
}

}  // namespace missrec::data
