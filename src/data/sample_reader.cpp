#include "data/sample_reader.h"

#include <glog/logging.h>

#include <algorithm>

namespace missrec::data {

namespace {
// Values per block read: 4 MiB of ids; a longer history gets a read of its own size.
constexpr int64_t kBlockValues = int64_t{1} << 20;
}  // namespace

SampleReader::OpenSegment& SampleReader::open(const SampleSegment& segment) {
  const std::string key = segment.path + ":" + segment.split;
  auto found = open_.find(key);
  if (found == open_.end()) {
    H5File file = H5File::open_read(segment.path);
    const std::string group = "/samples/" + segment.split;
    H5File::IntRangeReader items = file.open_int_reader(group + "/items");
    H5File::IntRangeReader offsets = file.open_int_reader(group + "/offsets");
    H5File::IntRangeReader target = file.open_int_reader(group + "/target");
    H5File::IntRangeReader user = segment.has_user ? file.open_int_reader(group + "/user") : H5File::IntRangeReader();
    OpenSegment opened{
        std::move(file), std::move(items), std::move(offsets), std::move(target), std::move(user), {}, {}, {}, {}};
    found = open_.emplace(key, std::move(opened)).first;
  }
  return found->second;
}

template <class T>
const T* SampleReader::values(H5File::IntRangeReader& source, Block<T>& block, int64_t first, int64_t last) {
  if (first < block.begin || last > block.end) {
    block.begin = first;
    block.end = std::min(source.length(), first + std::max(kBlockValues, last - first));
    block.values.resize(static_cast<size_t>(block.end - block.begin));
    source.read(block.begin, block.end - block.begin, block.values.data());
    bytes_read_ += (block.end - block.begin) * static_cast<int64_t>(sizeof(T));
  }
  return block.values.data() + (first - block.begin);
}

SampleView SampleReader::at(const SampleSegment& segment, int64_t row) { return read_row(open(segment), segment, row); }

SampleView SampleReader::read_row(OpenSegment& opened, const SampleSegment& segment, int64_t row) {
  CHECK(row >= 0 && row < segment.size()) << "sample " << row << " of " << segment.path;
  const int64_t* bounds = values(opened.offsets, opened.offset_block, row, row + 2);
  SampleView sample;
  sample.length = bounds[1] - bounds[0];
  sample.items = values(opened.items, opened.item_block, bounds[0], bounds[1]);
  sample.target = *values(opened.target, opened.target_block, row, row + 1);
  if (segment.has_user) sample.user = *values(opened.user, opened.user_block, row, row + 1);
  return sample;
}

void SampleReader::scan(const SampleSegment& segment, const std::vector<int64_t>& rows, const SampleVisitor& visit) {
  OpenSegment& opened = open(segment);
  int64_t previous = -1;
  for (size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i] > previous) << "rows must ascend within " << segment.path;
    previous = rows[i];
    visit(i, read_row(opened, segment, rows[i]));
  }
}

void SampleReader::for_each_length(const SampleSegment& segment, const std::function<void(int64_t)>& visit) {
  OpenSegment& opened = open(segment);
  for (int64_t first = 0; first < segment.size(); first += kBlockValues) {
    const int64_t count = std::min(kBlockValues, segment.size() - first);
    const int64_t* bounds = values(opened.offsets, opened.offset_block, first, first + count + 1);
    for (int64_t s = 0; s < count; ++s) visit(bounds[s + 1] - bounds[s]);
  }
}

}  // namespace missrec::data
