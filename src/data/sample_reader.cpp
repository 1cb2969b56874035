#include "data/sample_reader.h"

#include <glog/logging.h>

#include <algorithm>

namespace missrec::data {

std::vector<int32_t> SampleReader::read(const SampleSegment& segment, int64_t first, int64_t count) {
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

void SampleReader::scan(const SampleSegment& segment, const std::vector<int64_t>& rows, const HistoryVisitor& visit) {
  // 4 MiB of ids per read; a longer history gets a read of its own size.
  constexpr int64_t kBlockItems = int64_t{1} << 20;
  H5File::IntRangeReader& items = items_of(segment);
  std::vector<int32_t> block;
  int64_t block_begin = 0;
  int64_t block_end = 0;  // items [block_begin, block_end) are in `block`
  int64_t previous = -1;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t row = rows[i];
    CHECK(row > previous && row < segment.size()) << "rows must ascend within " << segment.path;
    previous = row;
    const int64_t begin = segment.offsets[row];
    const int64_t end = segment.offsets[row + 1];
    if (end > block_end) {
      block_begin = begin;
      block_end = std::min(items.length(), begin + std::max(kBlockItems, end - begin));
      block.resize(static_cast<size_t>(block_end - block_begin));
      items.read(block_begin, block_end - block_begin, block.data());
      bytes_read_ += (block_end - block_begin) * static_cast<int64_t>(sizeof(int32_t));
    }
    visit(i, block.data() + (begin - block_begin), end - begin);
  }
}

}  // namespace missrec::data
