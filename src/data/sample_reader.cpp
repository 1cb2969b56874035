#include "data/sample_reader.h"

#include <glog/logging.h>

namespace missrec::data {

std::vector<int32_t> SampleReader::read(const SampleSegment& segment, int64_t first,
                                        int64_t count) {
  CHECK(first >= 0 && count >= 0 && first + count <= segment.size())
      << "samples [" << first << ", " << first + count << ") of " << segment.path;
  const int64_t begin = segment.offsets[first];
  const int64_t end = segment.offsets[first + count];
  bytes_read_ += (end - begin) * static_cast<int64_t>(sizeof(int32_t));
  std::vector<int32_t> items(static_cast<size_t>(end - begin));
  items_of(segment).read(begin, end - begin, items.data());
  return items;
}

H5File::IntRangeReader& SampleReader::items_of(const SampleSegment& segment) {
  const std::string key = segment.path + ":" + segment.split;
  auto found = open_.find(key);
  if (found == open_.end()) {
    H5File file = H5File::open_read(segment.path);
    H5File::IntRangeReader items = file.open_int_reader("/samples/" + segment.split + "/items");
    found = open_.emplace(key, OpenItems{std::move(file), std::move(items)}).first;
  }
  return found->second.items;
}

std::vector<std::vector<int32_t>> SampleReader::read_ranges(
    const SampleSegment& segment, const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  std::vector<std::pair<int64_t, int64_t>> item_ranges;
  int64_t total = 0;
  for (const auto& [first, count] : ranges) {
    CHECK(first >= 0 && count >= 0 && first + count <= segment.size());
    const int64_t begin = segment.offsets[first];
    const int64_t end = segment.offsets[first + count];
    item_ranges.emplace_back(begin, end - begin);
    total += end - begin;
  }
  std::vector<int32_t> flat(static_cast<size_t>(total));
  items_of(segment).read_ranges(item_ranges, flat.data());
  bytes_read_ += total * static_cast<int64_t>(sizeof(int32_t));
  std::vector<std::vector<int32_t>> out;
  int64_t at = 0;
  for (const auto& [begin, count] : item_ranges) {
    out.emplace_back(flat.begin() + at, flat.begin() + at + count);
    at += count;
  }
  return out;
}

}  // namespace missrec::data
