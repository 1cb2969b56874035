#include "data/npy_file.h"

#include <glog/logging.h>

#include <unistd.h>

#include <cstring>

#include "runtime/error.h"

namespace missrec::data {

std::string npy_header(int64_t rows, int64_t columns) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                     std::to_string(columns) + "), }";
  const size_t prefix = 10;  // magic (6), version (2), header length (2)
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string header = "\x93NUMPY";
  header.push_back('\x01');
  header.push_back('\x00');
  const uint16_t length = static_cast<uint16_t>(dict.size());
  header.push_back(static_cast<char>(length & 0xFF));
  header.push_back(static_cast<char>(length >> 8));
  return header + dict;
}

NpyWriter::NpyWriter(std::string path, int64_t rows, int64_t columns)
    : path_(std::move(path)), rows_(rows), columns_(columns) {
  file_ = std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr) runtime::throw_input_error(path_, std::string("cannot create: ") + std::strerror(errno));
  const std::string header = npy_header(rows, columns);
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    runtime::throw_input_error(path_, "write failed");
  }
}

NpyWriter::~NpyWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void NpyWriter::append(const at::Tensor& rows) {
  const at::Tensor values = rows.to(at::kCPU, at::kFloat).contiguous();
  CHECK_EQ(values.dim(), 2) << path_;
  CHECK_EQ(values.size(1), columns_) << path_;
  CHECK_LE(written_ + values.size(0), rows_) << path_;
  const size_t count = static_cast<size_t>(values.numel());
  if (count > 0 && std::fwrite(values.data_ptr<float>(), sizeof(float), count, file_) != count) {
    runtime::throw_input_error(path_, "write failed");
  }
  written_ += values.size(0);
}

void NpyWriter::close() {
  CHECK_EQ(written_, rows_) << path_ << ": rows missing";
  const bool failed = std::fflush(file_) != 0 || fsync(fileno(file_)) != 0;
  std::fclose(file_);
  file_ = nullptr;
  if (failed) runtime::throw_input_error(path_, "write failed");
}

}  // namespace missrec::data
