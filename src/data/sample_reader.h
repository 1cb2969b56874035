#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/h5_file.h"

namespace missrec::data {

// Reads sample histories, keeping the files it has opened. Not shared between threads
// (each reader thread owns one).
class SampleReader {
 public:
  // History items of samples [first, first + count) of `segment`, concatenated.
  std::vector<int32_t> read(const SampleSegment& segment, int64_t first, int64_t count);
  // Calls visit(i, items, length) with the history of sample rows[i], for rows in
  // ascending order. Reads the items dataset front to back in large blocks and skips
  // the blocks no row needs: per-call cost, not bytes, dominates small HDF5 reads, so
  // one pass beats a read per sample even when few rows are wanted.
  using HistoryVisitor = std::function<void(size_t, const int32_t*, int64_t)>;
  void scan(const SampleSegment& segment, const std::vector<int64_t>& rows, const HistoryVisitor& visit);
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
