#include "data/sample_reader.h"

#include <glog/logging.h>

namespace missrec::data {

std::vector<int32_t> SampleReader::read(const SampleSegment& segment, int64_t first,
                                        int64_t count) {
  CHECK(first >= 0 && count >= 0 && first + count <= segment.size())
      << "samples [" << first << ", " << first + count << ") of " << segment.path;
  const std::string key = segment.path + ":" + segment.split;
  auto found = open_.find(key);
  if (found == open_.end()) {
    H5File file = H5File::open_read(segment.path);
    H5File::IntRangeReader items = file.open_int_reader("/samples/" + segment.split + "/items");
    found = open_.emplace(key, OpenItems{std::move(file), std::move(items)}).first;
  }
  const int64_t begin = segment.offsets[first];
  const int64_t end = segment.offsets[first + count];
  bytes_read_ += (end - begin) * static_cast<int64_t>(sizeof(int32_t));
  std::vector<int32_t> items(static_cast<size_t>(end - begin));
  found->second.items.read(begin, end - begin, items.data());
  return items;
}

}  // namespace missrec::data
