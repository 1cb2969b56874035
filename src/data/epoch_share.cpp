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
  begin_.resize(static_cast<size_t>(count) + 1);
  // The share's samples of each segment, by row, to scan each file front to back.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> by_segment(segments.size());  // (row, index)
  int64_t total_items = 0;
  for (int64_t index = 0; index < count; ++index) {
    const SampleRef ref = order.at(slice.position(first_step + index / local, index % local));
    const SampleSegment& segment = segments[static_cast<size_t>(ref.segment)];
    refs_[static_cast<size_t>(index)] = ref;
    begin_[static_cast<size_t>(index)] = total_items;
    total_items += segment.offsets[ref.row + 1] - segment.offsets[ref.row];
    by_segment[static_cast<size_t>(ref.segment)].emplace_back(ref.row, index);
  }
  begin_.back() = total_items;
  items_.resize(static_cast<size_t>(total_items));
  for (size_t s = 0; s < segments.size(); ++s) {
    std::vector<std::pair<int64_t, int64_t>>& wanted = by_segment[s];
    if (wanted.empty()) continue;
    std::sort(wanted.begin(), wanted.end());
    std::vector<int64_t> rows(wanted.size());
    for (size_t w = 0; w < wanted.size(); ++w) rows[w] = wanted[w].first;
    reader.scan(segments[s], rows, [&](size_t w, const int32_t* items, int64_t length) {
      std::copy_n(items, length, items_.data() + begin_[static_cast<size_t>(wanted[w].second)]);
    });
  }
}

ShareSample EpochShare::at(int64_t step, int64_t i) const {
  const int64_t local = slice_.local();
  CHECK(step >= first_step_ && i >= 0 && i < slice_.count(step)) << "step " << step << ", sample " << i;
  const size_t index = static_cast<size_t>((step - first_step_) * local + i);
  CHECK_LT(index, refs_.size()) << "step " << step << " is past the share";
  const int64_t begin = begin_[index];
  return ShareSample{refs_[index].segment, refs_[index].row, slice_.position(step, i), items_.data() + begin,
                     begin_[index + 1] - begin};
}

}  // namespace missrec::data
