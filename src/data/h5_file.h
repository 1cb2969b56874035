#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "data/h5_handle.h"

namespace missrec::data {

// One HDF5 file with the few typed operations the dataset format needs. Every call
// takes the process-wide HDF5 lock. Problems with the file's content (missing object,
// wrong type or rank, failed read) throw runtime::InputError naming the file and the
// object path.
class H5File {
 public:
  static H5File open_read(const std::string& path);
  static H5File create(const std::string& path);  // truncates

  const std::string& path() const { return path_; }

  bool exists(const std::string& object) const;
  std::vector<int64_t> shape(const std::string& dataset) const;
  bool is_float(const std::string& dataset) const;
  bool is_integer(const std::string& dataset) const;

  bool has_attribute(const std::string& object, const std::string& name) const;
  // The attribute `name` of `object` as T: std::string (fixed or variable length),
  // int64_t (any integer type) or double (any number).
  template <class T>
  T attribute(const std::string& object, const std::string& name) const;

  // Elements [start, start + count) of a 1-D integer dataset (count < 0: to the end).
  std::vector<int64_t> read_int64(const std::string& dataset, int64_t start = 0, int64_t count = -1) const;
  std::vector<int32_t> read_int32(const std::string& dataset, int64_t start = 0, int64_t count = -1) const;
  // Rows [row_start, row_start + row_count) of a 2-D float dataset (float16, float32 or
  // float64 on disk) as float32 into `out` (row_count * columns values).
  void read_float_rows(const std::string& dataset, int64_t row_start, int64_t row_count, float* out) const;
  std::vector<std::string> read_strings(const std::string& dataset) const;
  // A whole dataset of any rank as a CPU tensor: float32 for float data, int64 for
  // integers.
  at::Tensor read_tensor(const std::string& dataset) const;
  // Names of the members of a group.
  std::vector<std::string> list(const std::string& group) const;

  void create_group(const std::string& group);
  void write_int64(const std::string& dataset, const std::vector<int64_t>& values);
  void write_int32(const std::string& dataset, const std::vector<int32_t>& values);
  void write_float32(const std::string& dataset, const std::vector<float>& values);
  // Chunked in row blocks of about 4 MiB; float16 on disk when `half`.
  void write_float_matrix(const std::string& dataset, const float* values, int64_t rows, int64_t columns,
                          bool half = false);
  void write_strings(const std::string& dataset, const std::vector<std::string>& values);
  // A float32 or int64 CPU tensor of any rank, bit for bit (read it back with
  // read_tensor); the checkpoint and export formats use it.
  void write_tensor(const std::string& dataset, const at::Tensor& tensor);
  // A [rows] (columns 0) or [rows, columns] float32 or int64 dataset, chunked, that
  // write_rows fills in blocks: outputs larger than memory.
  void create_rows(const std::string& dataset, at::ScalarType type, int64_t rows, int64_t columns);
  // values [n] or [n, columns] of the dataset's type, at rows [row_start, row_start + n).
  void write_rows(const std::string& dataset, int64_t row_start, const at::Tensor& values);
  void set_string_attribute(const std::string& object, const std::string& name, const std::string& value);
  void set_int_attribute(const std::string& object, const std::string& name, int64_t value);

  void flush();

  // A 1-D integer dataset kept open for repeated range reads (the loader's hot path:
  // no per-read open, type or dataspace setup).
  class IntRangeReader {
   public:
    // Elements [start, start + count) as int32 (or int64) into `out`.
    void read(int64_t start, int64_t count, int32_t* out);
    void read(int64_t start, int64_t count, int64_t* out);
    int64_t length() const { return length_; }

   private:
    friend class H5File;
    void read_as(int64_t start, int64_t count, hid_t memory_type, void* out);
    std::string where_;
    H5Handle dataset_;
    H5Handle space_;
    H5Handle memory_;  // reshaped per read instead of created
    int64_t length_ = 0;
  };
  IntRangeReader open_int_reader(const std::string& dataset) const;

 private:
  H5File(std::string path, H5Handle file) : path_(std::move(path)), file_(std::move(file)) {}
  [[noreturn]] void fail(const std::string& object, const std::string& what) const;
  [[noreturn]] void fail_write(const std::string& object, const std::string& what) const;
  H5Handle open_dataset(const std::string& dataset) const;
  H5Handle open_attribute(const std::string& object, const std::string& name) const;
  template <class T>
  std::vector<T> read_integers(const std::string& dataset, int64_t start, int64_t count, hid_t memory_type) const;
  void write_vector(const std::string& dataset, const void* values, int64_t count, hid_t file_type, hid_t memory_type);

  std::string path_;
  H5Handle file_;
};

template <>
std::string H5File::attribute<std::string>(const std::string& object, const std::string& name) const;
template <>
int64_t H5File::attribute<int64_t>(const std::string& object, const std::string& name) const;
template <>
double H5File::attribute<double>(const std::string& object, const std::string& name) const;

}  // namespace missrec::data
