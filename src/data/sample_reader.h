#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/h5_file.h"

namespace missrec::data {

// Reads sample histories with one hyperslab per contiguous sample range, keeping the
// files it has opened. Not shared between threads (each reader thread owns one).
class SampleReader {
 public:
  // History items of samples [first, first + count) of `segment`, concatenated.
  std::vector<int32_t> read(const SampleSegment& segment, int64_t first, int64_t count);
  // Several disjoint sample ranges {first, count} of one segment in one HDF5 read; the
  // histories of each range, in the order given.
  std::vector<std::vector<int32_t>> read_ranges(
      const SampleSegment& segment, const std::vector<std::pair<int64_t, int64_t>>& ranges);
  int64_t bytes_read() const { return bytes_read_; }

 private:
  struct OpenItems {
    H5File file;
    H5File::IntRangeReader items;
  };
  H5File::IntRangeReader& items_of(const SampleSegment& segment);
  std::map<std::string, OpenItems> open_;
  int64_t bytes_read_ = 0;
};

}  // namespace missrec::data
