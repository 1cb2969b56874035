#include "data/sample_reader.h"

#include <glog/logging.h>

namespace missrec::data {

std::vector<int32_t> SampleReader::read(const SampleSegment& segment, int64_t first,
                                        int64_t count) {
  CHECK(first >= 0 && count >= 0 && first + count <= segment.size())
      << "samples [" << first << ", " << first + count << ") of " << segment.path;
  auto found = files_.find(segment.path);
  if (found == files_.end()) {
    found = files_.emplace(segment.path, H5File::open_read(segment.path)).first;
  }
  const int64_t begin = segment.offsets[first];
  const int64_t end = segment.offsets[first + count];
  bytes_read_ += (end - begin) * static_cast<int64_t>(sizeof(int32_t));
  return found->second.read_int32("/samples/" + segment.split + "/items", begin, end - begin);
}

}  // namespace missrec::data
