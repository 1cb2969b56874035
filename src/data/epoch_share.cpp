#include "data/epoch_share.h"

#include <glog/logging.h>

#include <algorithm>

namespace missrec::data {

EpochShare::EpochShare(const std::vector<SampleSegment>& segments, const EpochOrder& order, const RankSlice& slice,
                       int64_t first_step, int64_t end_step, SampleReader& reader)
    : slice_(slice), first_step_(first_step) {
  CHECK(0 <= first_step && first_step <= end_step) << first_step << " .. " << end_step;
  const int64_t local = slice.local();
  CHECK(end_step <= slice.full_steps + (slice.tail > 0 ? 1 : 0)) << end_step << " steps";
  int64_t count = 0;
  for (int64_t step = first_step; step < end_step; ++step) count += slice.count(step);
  refs_.resize(static_cast<size_t>(count));
  begin_.resize(static_cast<size_t>(count));
  length_.resize(static_cast<size_t>(count));
  target_.resize(static_cast<size_t>(count));
  // The share's samples of each segment, by row, to scan each file front to back.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> by_segment(segments.size());  // (row, index)
  for (int64_t index = 0; index < count; ++index) {
    const SampleRef ref = order.at(slice.position(first_step + index / local, index % local));
    refs_[static_cast<size_t>(index)] = ref;
    by_segment[static_cast<size_t>(ref.segment)].emplace_back(ref.row, index);
  }
  for (size_t s = 0; s < segments.size(); ++s) {
    std::vector<std::pair<int64_t, int64_t>>& wanted = by_segment[s];
    if (wanted.empty()) continue;
    std::sort(wanted.begin(), wanted.end());
    std::vector<int64_t> rows(wanted.size());
    for (size_t w = 0; w < wanted.size(); ++w) rows[w] = wanted[w].first;
    reader.scan(segments[s], rows, [&](size_t w, const SampleView& sample) {
      const auto index = static_cast<size_t>(wanted[w].second);
      begin_[index] = static_cast<int64_t>(items_.size());
      length_[index] = sample.length;
      target_[index] = sample.target;
      items_.insert(items_.end(), sample.items, sample.items + sample.length);
    });
  }
}

ShareSample EpochShare::at(int64_t step, int64_t i) const {
  const int64_t local = slice_.local();
  CHECK(step >= first_step_ && i >= 0 && i < slice_.count(step)) << "step " << step << ", sample " << i;
  const size_t index = static_cast<size_t>((step - first_step_) * local + i);
  CHECK_LT(index, refs_.size()) << "step " << step << " is past the share";
  return ShareSample{refs_[index].segment,          refs_[index].row, slice_.position(step, i),
                     items_.data() + begin_[index], length_[index],   target_[index]};
}

}  // namespace missrec::data
