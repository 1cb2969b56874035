#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <string>

namespace missrec::data {

// A float32 .npy file (NumPy format 1.0: magic, version, a little-endian header length,
// the header dict padded with spaces to a 64-byte boundary, then C-order data) of shape
// [rows, columns], appended row block by row block so outputs need not fit in memory.
// numpy.load(path, mmap_mode="r") reads it.
class NpyWriter {
 public:
  NpyWriter(std::string path, int64_t rows, int64_t columns);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  // float32 [n, columns]; the rows follow the ones appended before.
  void append(const at::Tensor& rows);
  // Flushes and closes; every row must have been appended.
  void close();

 private:
  std::string path_;
  int64_t rows_, columns_, written_ = 0;
  std::FILE* file_ = nullptr;
};

// The header block (magic through padding) of a float32 [rows, columns] .npy file.
std::string npy_header(int64_t rows, int64_t columns);

}  // namespace missrec::data
