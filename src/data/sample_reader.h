#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/h5_file.h"

namespace missrec::data {

// One sample as the files hold it: its history (local item ids, oldest first), its
// target (a local id) and its user index (-1 when the file has none).
struct SampleView {
  const int32_t* items = nullptr;
  int64_t length = 0;
  int32_t target = 0;
  int32_t user = -1;
};

// Reads samples, keeping the files it has opened and a block of each of their datasets
// (offsets, targets, users, history items): rows read in ascending order cost one large
// read per block, and nothing it holds grows with the number of samples. Not shared
// between threads (each reader thread owns one).
class SampleReader {
 public:
  // Calls visit(i, sample) for sample rows[i], rows in ascending order. Reads the files
  // front to back in large blocks and skips the blocks no row needs: per-call cost, not
  // bytes, dominates small HDF5 reads, so one pass beats a read per sample even when few
  // rows are wanted.
  using SampleVisitor = std::function<void(size_t, const SampleView&)>;
  void scan(const SampleSegment& segment, const std::vector<int64_t>& rows, const SampleVisitor& visit);
  // Sample `row` (valid until the next call).
  SampleView at(const SampleSegment& segment, int64_t row);
  // Calls visit(length) with every sample's history length, in row order.
  void for_each_length(const SampleSegment& segment, const std::function<void(int64_t)>& visit);
  int64_t bytes_read() const { return bytes_read_; }

 private:
  // Values [begin, end) of one dataset, read a block at a time.
  template <class T>
  struct Block {
    std::vector<T> values;
    int64_t begin = 0;
    int64_t end = 0;
  };
  struct OpenSegment {
    H5File file;
    H5File::IntRangeReader items;
    H5File::IntRangeReader offsets;
    H5File::IntRangeReader target;
    H5File::IntRangeReader user;  // unread when the file has no users
    Block<int32_t> item_block;
    Block<int64_t> offset_block;
    Block<int32_t> target_block;
    Block<int32_t> user_block;
  };
  OpenSegment& open(const SampleSegment& segment);
  SampleView read_row(OpenSegment& opened, const SampleSegment& segment, int64_t row);
  // Values [first, last) of `source`, read into `block` unless it holds them already.
  template <class T>
  const T* values(H5File::IntRangeReader& source, Block<T>& block, int64_t first, int64_t last);

  std::map<std::string, OpenSegment> open_;
  int64_t bytes_read_ = 0;
};

}  // namespace missrec::data
