#include "data/h5_file.h"

#include <glog/logging.h>

#include <algorithm>

#include "runtime/error.h"

namespace missrec::data {

namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

constexpr int64_t kChunkBytes = 4 << 20;

H5Handle half_float_type() {
  // IEEE 754 binary16, little endian: HDF5 1.10 has no predefined type for it, but
  // converts between float layouts in software.
  H5Handle type(H5Tcopy(H5T_IEEE_F32LE));
  MISSREC_H5_CHECK(H5Tset_fields(type.get(), 15, 10, 5, 0, 10));
  MISSREC_H5_CHECK(H5Tset_precision(type.get(), 16));
  MISSREC_H5_CHECK(H5Tset_size(type.get(), 2));
  MISSREC_H5_CHECK(H5Tset_ebias(type.get(), 15));
  return type;
}

// Chunked creation property list, or contiguous (default) for empty datasets.
H5Handle chunked(const std::vector<hsize_t>& dims, int64_t element_bytes) {
  H5Handle plist(H5Pcreate(H5P_DATASET_CREATE));
  if (dims[0] == 0) return plist;
  std::vector<hsize_t> chunk = dims;
  int64_t row_bytes = element_bytes;
  for (size_t i = 1; i < dims.size(); ++i) row_bytes *= static_cast<int64_t>(dims[i]);
  // Even chunks: a partial last chunk would still be stored at full size.
  const int64_t rows = static_cast<int64_t>(dims[0]);
  const int64_t max_rows = std::max<int64_t>(1, kChunkBytes / std::max<int64_t>(row_bytes, 1));
  const int64_t chunks = (rows + max_rows - 1) / max_rows;
  chunk[0] = static_cast<hsize_t>((rows + chunks - 1) / chunks);
  MISSREC_H5_CHECK(H5Pset_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data()));
  return plist;
}

H5Handle intermediate_groups() {
  H5Handle plist(H5Pcreate(H5P_LINK_CREATE));
  MISSREC_H5_CHECK(H5Pset_create_intermediate_group(plist.get(), 1));
  return plist;
}

}  // namespace

H5File H5File::open_read(const std::string& path) {
  Lock lock(h5_mutex());
  silence_hdf5_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    runtime::throw_input_error(path, "not a readable HDF5 file");
  }
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.valid()) runtime::throw_input_error(path, "cannot open as HDF5");
  return H5File(path, std::move(file));
}

H5File H5File::create(const std::string& path) {
  Lock lock(h5_mutex());
  silence_hdf5_errors();
  H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!file.valid()) runtime::throw_output_error(path, "cannot create HDF5 file");
  return H5File(path, std::move(file));
}

void H5File::fail(const std::string& object, const std::string& what) const {
  runtime::throw_input_error(path_ + ": " + object, what);
}

void H5File::fail_write(const std::string& object, const std::string& what) const {
  runtime::throw_output_error(path_ + ": " + object, what);
}

bool H5File::exists(const std::string& object) const {
  Lock lock(h5_mutex());
  // H5Lexists needs every intermediate link to exist, so walk the path.
  size_t slash = 0;
  while (slash != std::string::npos) {
    slash = object.find('/', slash + 1);
    const std::string prefix = object.substr(0, slash);
    if (prefix.empty() || prefix == "/") continue;
    if (H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

H5Handle H5File::open_dataset(const std::string& dataset) const {
  if (!exists(dataset)) fail(dataset, "missing dataset");
  H5Handle handle(H5Dopen2(file_.get(), dataset.c_str(), H5P_DEFAULT));
  if (!handle.valid()) fail(dataset, "not a dataset");
  return handle;
}

std::vector<int64_t> H5File::shape(const std::string& dataset) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle space(H5Dget_space(handle.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(dataset, "cannot read its shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  MISSREC_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  return std::vector<int64_t>(dims.begin(), dims.end());
}

bool H5File::is_float(const std::string& dataset) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle type(H5Dget_type(handle.get()));
  return H5Tget_class(type.get()) == H5T_FLOAT;
}

bool H5File::is_integer(const std::string& dataset) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle type(H5Dget_type(handle.get()));
  return H5Tget_class(type.get()) == H5T_INTEGER;
}

bool H5File::has_attribute(const std::string& object, const std::string& name) const {
  Lock lock(h5_mutex());
  if (object != "/" && !exists(object)) return false;
  return H5Aexists_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

H5Handle H5File::open_attribute(const std::string& object, const std::string& name) const {
  if (!has_attribute(object, name)) fail(object, "missing attribute '" + name + "'");
  H5Handle attribute(H5Aopen_by_name(file_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute.valid()) fail(object, "cannot open attribute '" + name + "'");
  return attribute;
}

template <>
std::string H5File::attribute<std::string>(const std::string& object, const std::string& name) const {
  Lock lock(h5_mutex());
  const H5Handle attribute = open_attribute(object, name);
  H5Handle type(H5Aget_type(attribute.get()));
  if (H5Tget_class(type.get()) != H5T_STRING) {
    fail(object, "attribute '" + name + "' is not a string");
  }
  if (H5Tis_variable_str(type.get()) > 0) {
    char* text = nullptr;
    H5Handle memory(H5Tcopy(H5T_C_S1));
    MISSREC_H5_CHECK(H5Tset_size(memory.get(), H5T_VARIABLE));
    MISSREC_H5_CHECK(H5Tset_cset(memory.get(), H5Tget_cset(type.get())));  // HDF5 never converts charsets
    if (H5Aread(attribute.get(), memory.get(), &text) < 0) {
      fail(object, "cannot read attribute '" + name + "'");
    }
    std::string value = text != nullptr ? text : "";
    MISSREC_H5_CHECK(H5free_memory(text));
    return value;
  }
  const size_t size = H5Tget_size(type.get());
  std::string value(size, '\0');
  if (H5Aread(attribute.get(), type.get(), value.data()) < 0) {
    fail(object, "cannot read attribute '" + name + "'");
  }
  value.resize(std::min(value.size(), value.find('\0')));
  return value;
}

template <>
int64_t H5File::attribute<int64_t>(const std::string& object, const std::string& name) const {
  Lock lock(h5_mutex());
  const H5Handle attribute = open_attribute(object, name);
  H5Handle type(H5Aget_type(attribute.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER) {
    fail(object, "attribute '" + name + "' is not an integer");
  }
  int64_t value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_INT64, &value) < 0) {
    fail(object, "cannot read attribute '" + name + "'");
  }
  return value;
}

template <class T>
std::vector<T> H5File::read_integers(const std::string& dataset, int64_t start, int64_t count,
                                     hid_t memory_type) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle type(H5Dget_type(handle.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER) fail(dataset, "expected an integer dataset");
  H5Handle space(H5Dget_space(handle.get()));
  if (H5Sget_simple_extent_ndims(space.get()) != 1) fail(dataset, "expected a 1-D dataset");
  hsize_t length = 0;
  MISSREC_H5_CHECK(H5Sget_simple_extent_dims(space.get(), &length, nullptr));
  if (count < 0) count = static_cast<int64_t>(length) - start;
  if (start < 0 || count < 0 || start + count > static_cast<int64_t>(length)) {
    fail(dataset, "read of [" + std::to_string(start) + ", " + std::to_string(start + count) + ") outside its " +
                      std::to_string(length) + " elements");
  }
  std::vector<T> values(static_cast<size_t>(count));
  if (count == 0) return values;
  const hsize_t offset = static_cast<hsize_t>(start);
  const hsize_t extent = static_cast<hsize_t>(count);
  MISSREC_H5_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &offset, nullptr, &extent, nullptr));
  H5Handle memory(H5Screate_simple(1, &extent, nullptr));
  if (H5Dread(handle.get(), memory_type, memory.get(), space.get(), H5P_DEFAULT, values.data()) < 0) {
    fail(dataset, "read failed (values out of range for the type, or a corrupt file)");
  }
  return values;
}

std::vector<int64_t> H5File::read_int64(const std::string& dataset, int64_t start, int64_t count) const {
  return read_integers<int64_t>(dataset, start, count, H5T_NATIVE_INT64);
}

std::vector<int32_t> H5File::read_int32(const std::string& dataset, int64_t start, int64_t count) const {
  return read_integers<int32_t>(dataset, start, count, H5T_NATIVE_INT32);
}

void H5File::read_float_rows(const std::string& dataset, int64_t row_start, int64_t row_count, float* out) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle type(H5Dget_type(handle.get()));
  if (H5Tget_class(type.get()) != H5T_FLOAT) fail(dataset, "expected a float dataset");
  H5Handle space(H5Dget_space(handle.get()));
  if (H5Sget_simple_extent_ndims(space.get()) != 2) fail(dataset, "expected a 2-D dataset");
  hsize_t dims[2] = {0, 0};
  MISSREC_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims, nullptr));
  if (row_start < 0 || row_count < 0 || row_start + row_count > static_cast<int64_t>(dims[0])) {
    fail(dataset, "row read outside its " + std::to_string(dims[0]) + " rows");
  }
  if (row_count == 0) return;
  const hsize_t offset[2] = {static_cast<hsize_t>(row_start), 0};
  const hsize_t extent[2] = {static_cast<hsize_t>(row_count), dims[1]};
  MISSREC_H5_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, offset, nullptr, extent, nullptr));
  H5Handle memory(H5Screate_simple(2, extent, nullptr));
  if (H5Dread(handle.get(), H5T_NATIVE_FLOAT, memory.get(), space.get(), H5P_DEFAULT, out) < 0) {
    fail(dataset, "read failed (corrupt file?)");
  }
}

std::vector<std::string> H5File::read_strings(const std::string& dataset) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle type(H5Dget_type(handle.get()));
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) <= 0) {
    fail(dataset, "expected variable-length strings");
  }
  H5Handle space(H5Dget_space(handle.get()));
  if (H5Sget_simple_extent_ndims(space.get()) != 1) fail(dataset, "expected a 1-D dataset");
  hsize_t length = 0;
  MISSREC_H5_CHECK(H5Sget_simple_extent_dims(space.get(), &length, nullptr));
  std::vector<char*> raw(length, nullptr);
  H5Handle memory(H5Tcopy(H5T_C_S1));
  MISSREC_H5_CHECK(H5Tset_size(memory.get(), H5T_VARIABLE));
  MISSREC_H5_CHECK(H5Tset_cset(memory.get(), H5Tget_cset(type.get())));
  if (length > 0 && H5Dread(handle.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
    fail(dataset, "read failed");
  }
  std::vector<std::string> values;
  values.reserve(length);
  for (char* text : raw) values.emplace_back(text != nullptr ? text : "");
  if (length > 0) MISSREC_H5_CHECK(H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, raw.data()));
  return values;
}

at::Tensor H5File::read_tensor(const std::string& dataset) const {
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle type(H5Dget_type(handle.get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) {
    fail(dataset, "expected numbers");
  }
  H5Handle space(H5Dget_space(handle.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(dataset, "unreadable shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) MISSREC_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  const bool is_float = type_class == H5T_FLOAT;
  at::Tensor out = at::empty(std::vector<int64_t>(dims.begin(), dims.end()), is_float ? at::kFloat : at::kLong);
  if (out.numel() > 0 && H5Dread(handle.get(), is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                 H5P_DEFAULT, out.data_ptr()) < 0) {
    fail(dataset, "read failed");
  }
  return out;
}

std::vector<std::string> H5File::list(const std::string& group) const {
  Lock lock(h5_mutex());
  if (!exists(group)) fail(group, "missing group");
  H5Handle handle(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT));
  if (!handle.valid()) fail(group, "not a group");
  H5G_info_t info;
  if (H5Gget_info(handle.get(), &info) < 0) fail(group, "cannot read the group's members (corrupt file?)");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(handle.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (size < 0) fail(group, "cannot read member " + std::to_string(i) + "'s name (corrupt file?)");
    std::string name(static_cast<size_t>(size), '\0');
    if (H5Lget_name_by_idx(handle.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                           H5P_DEFAULT) < 0) {
      fail(group, "cannot read member " + std::to_string(i) + "'s name (corrupt file?)");
    }
    names.push_back(name);
  }
  return names;
}

template <>
double H5File::attribute<double>(const std::string& object, const std::string& name) const {
  Lock lock(h5_mutex());
  const H5Handle attribute = open_attribute(object, name);
  double value = 0.0;
  if (H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0) {
    fail(object, "cannot read attribute '" + name + "' as a number");
  }
  return value;
}

void H5File::create_group(const std::string& group) {
  Lock lock(h5_mutex());
  if (exists(group)) return;
  H5Handle links = intermediate_groups();
  H5Handle handle(H5Gcreate2(file_.get(), group.c_str(), links.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!handle.valid()) fail_write(group, "cannot create group");
}

void H5File::write_vector(const std::string& dataset, const void* values, int64_t count, hid_t file_type,
                          hid_t memory_type) {
  Lock lock(h5_mutex());
  const std::vector<hsize_t> dims = {static_cast<hsize_t>(count)};
  H5Handle space(H5Screate_simple(1, dims.data(), nullptr));
  H5Handle plist = chunked(dims, static_cast<int64_t>(H5Tget_size(file_type)));
  H5Handle links = intermediate_groups();
  H5Handle handle(
      H5Dcreate2(file_.get(), dataset.c_str(), file_type, space.get(), links.get(), plist.get(), H5P_DEFAULT));
  if (!handle.valid()) fail_write(dataset, "cannot create dataset");
  if (count > 0 && H5Dwrite(handle.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    fail_write(dataset, "write failed");
  }
}

void H5File::write_tensor(const std::string& dataset, const at::Tensor& tensor) {
  const at::ScalarType type = tensor.scalar_type();
  if (type != at::kFloat && type != at::kLong) fail(dataset, "only float32 and int64 tensors are stored");
  const at::Tensor values = tensor.to(at::kCPU).contiguous();
  Lock lock(h5_mutex());
  const std::vector<hsize_t> dims(values.sizes().begin(), values.sizes().end());
  H5Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                              : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Handle links = intermediate_groups();
  H5Handle handle(H5Dcreate2(file_.get(), dataset.c_str(), type == at::kFloat ? H5T_IEEE_F32LE : H5T_STD_I64LE,
                             space.get(), links.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!handle.valid()) fail_write(dataset, "cannot create dataset");
  if (values.numel() > 0 && H5Dwrite(handle.get(), type == at::kFloat ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64, H5S_ALL,
                                     H5S_ALL, H5P_DEFAULT, values.data_ptr()) < 0) {
    fail_write(dataset, "write failed");
  }
}

void H5File::create_rows(const std::string& dataset, at::ScalarType type, int64_t rows, int64_t columns) {
  if (type != at::kFloat && type != at::kLong) fail(dataset, "only float32 and int64 rows are stored");
  Lock lock(h5_mutex());
  std::vector<hsize_t> dims = {static_cast<hsize_t>(rows)};
  if (columns > 0) dims.push_back(static_cast<hsize_t>(columns));
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Handle plist = chunked(dims, type == at::kFloat ? 4 : 8);
  H5Handle links = intermediate_groups();
  H5Handle handle(H5Dcreate2(file_.get(), dataset.c_str(), type == at::kFloat ? H5T_IEEE_F32LE : H5T_STD_I64LE,
                             space.get(), links.get(), plist.get(), H5P_DEFAULT));
  if (!handle.valid()) fail_write(dataset, "cannot create dataset");
}

void H5File::write_rows(const std::string& dataset, int64_t row_start, const at::Tensor& values) {
  const at::Tensor rows = values.to(at::kCPU).contiguous();
  if (rows.numel() == 0) return;
  Lock lock(h5_mutex());
  H5Handle handle = open_dataset(dataset);
  H5Handle space(H5Dget_space(handle.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  hsize_t dims[2] = {0, 0};
  MISSREC_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims, nullptr));
  CHECK_EQ(rows.dim(), rank) << dataset;
  CHECK(rank == 1 || rows.size(1) == static_cast<int64_t>(dims[1])) << dataset;
  CHECK(row_start >= 0 && row_start + rows.size(0) <= static_cast<int64_t>(dims[0])) << dataset;
  const hsize_t offset[2] = {static_cast<hsize_t>(row_start), 0};
  const hsize_t extent[2] = {static_cast<hsize_t>(rows.size(0)), rank == 2 ? dims[1] : 1};
  MISSREC_H5_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, offset, nullptr, extent, nullptr));
  H5Handle memory(H5Screate_simple(rank, extent, nullptr));
  const hid_t memory_type = rows.scalar_type() == at::kFloat ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64;
  CHECK(rows.scalar_type() == at::kFloat || rows.scalar_type() == at::kLong) << dataset;
  if (H5Dwrite(handle.get(), memory_type, memory.get(), space.get(), H5P_DEFAULT, rows.data_ptr()) < 0) {
    fail_write(dataset, "write failed");
  }
}

void H5File::write_int64(const std::string& dataset, const std::vector<int64_t>& values) {
  write_vector(dataset, values.data(), static_cast<int64_t>(values.size()), H5T_STD_I64LE, H5T_NATIVE_INT64);
}

void H5File::write_int32(const std::string& dataset, const std::vector<int32_t>& values) {
  write_vector(dataset, values.data(), static_cast<int64_t>(values.size()), H5T_STD_I32LE, H5T_NATIVE_INT32);
}

void H5File::write_float32(const std::string& dataset, const std::vector<float>& values) {
  write_vector(dataset, values.data(), static_cast<int64_t>(values.size()), H5T_IEEE_F32LE, H5T_NATIVE_FLOAT);
}

void H5File::write_float_matrix(const std::string& dataset, const float* values, int64_t rows, int64_t columns,
                                bool half) {
  Lock lock(h5_mutex());
  const std::vector<hsize_t> dims = {static_cast<hsize_t>(rows), static_cast<hsize_t>(columns)};
  H5Handle space(H5Screate_simple(2, dims.data(), nullptr));
  H5Handle half_type;
  if (half) half_type = half_float_type();
  const hid_t file_type = half ? half_type.get() : H5T_IEEE_F32LE;
  H5Handle plist = chunked(dims, half ? 2 : 4);
  H5Handle links = intermediate_groups();
  H5Handle handle(
      H5Dcreate2(file_.get(), dataset.c_str(), file_type, space.get(), links.get(), plist.get(), H5P_DEFAULT));
  if (!handle.valid()) fail_write(dataset, "cannot create dataset");
  if (rows > 0 && columns > 0 && H5Dwrite(handle.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    fail_write(dataset, "write failed");
  }
}

void H5File::write_strings(const std::string& dataset, const std::vector<std::string>& values) {
  Lock lock(h5_mutex());
  std::vector<const char*> raw;
  raw.reserve(values.size());
  for (const std::string& value : values) raw.push_back(value.c_str());
  H5Handle type(H5Tcopy(H5T_C_S1));
  MISSREC_H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  MISSREC_H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  const hsize_t length = values.size();
  H5Handle space(H5Screate_simple(1, &length, nullptr));
  H5Handle links = intermediate_groups();
  H5Handle handle(
      H5Dcreate2(file_.get(), dataset.c_str(), type.get(), space.get(), links.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!handle.valid()) fail_write(dataset, "cannot create dataset");
  if (length > 0 && H5Dwrite(handle.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
    fail_write(dataset, "write failed");
  }
}

void H5File::set_string_attribute(const std::string& object, const std::string& name, const std::string& value) {
  Lock lock(h5_mutex());
  H5Handle type(H5Tcopy(H5T_C_S1));
  MISSREC_H5_CHECK(H5Tset_size(type.get(), std::max<size_t>(value.size(), 1)));
  MISSREC_H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  H5Handle space(H5Screate(H5S_SCALAR));
  H5Handle attribute(H5Acreate_by_name(file_.get(), object.c_str(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
  std::string padded = value;
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), padded.data()) < 0) {
    fail_write(object, "cannot write attribute '" + name + "'");
  }
}

void H5File::set_int_attribute(const std::string& object, const std::string& name, int64_t value) {
  Lock lock(h5_mutex());
  H5Handle space(H5Screate(H5S_SCALAR));
  H5Handle attribute(H5Acreate_by_name(file_.get(), object.c_str(), name.c_str(), H5T_STD_I64LE, space.get(),
                                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute.valid() || H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value) < 0) {
    fail_write(object, "cannot write attribute '" + name + "'");
  }
}

H5File::IntRangeReader H5File::open_int_reader(const std::string& dataset) const {
  Lock lock(h5_mutex());
  IntRangeReader reader;
  reader.where_ = path_ + ": " + dataset;
  reader.dataset_ = open_dataset(dataset);
  H5Handle type(H5Dget_type(reader.dataset_.get()));
  if (H5Tget_class(type.get()) != H5T_INTEGER) fail(dataset, "expected an integer dataset");
  reader.space_ = H5Handle(H5Dget_space(reader.dataset_.get()));
  if (H5Sget_simple_extent_ndims(reader.space_.get()) != 1) fail(dataset, "expected a 1-D dataset");
  hsize_t length = 0;
  MISSREC_H5_CHECK(H5Sget_simple_extent_dims(reader.space_.get(), &length, nullptr));
  reader.length_ = static_cast<int64_t>(length);
  const hsize_t one = 1;
  reader.memory_ = H5Handle(H5Screate_simple(1, &one, nullptr));
  return reader;
}

void H5File::IntRangeReader::read(int64_t start, int64_t count, int32_t* out) {
  read_as(start, count, H5T_NATIVE_INT32, out);
}

void H5File::IntRangeReader::read(int64_t start, int64_t count, int64_t* out) {
  read_as(start, count, H5T_NATIVE_INT64, out);
}

void H5File::IntRangeReader::read_as(int64_t start, int64_t count, hid_t memory_type, void* out) {
  if (start < 0 || count < 0 || start + count > length_) {
    runtime::throw_input_error(where_, "read outside its " + std::to_string(length_) + " elements");
  }
  if (count == 0) return;
  Lock lock(h5_mutex());
  const hsize_t offset = static_cast<hsize_t>(start);
  const hsize_t extent = static_cast<hsize_t>(count);
  MISSREC_H5_CHECK(H5Sselect_hyperslab(space_.get(), H5S_SELECT_SET, &offset, nullptr, &extent, nullptr));
  MISSREC_H5_CHECK(H5Sset_extent_simple(memory_.get(), 1, &extent, nullptr));
  if (H5Dread(dataset_.get(), memory_type, memory_.get(), space_.get(), H5P_DEFAULT, out) < 0) {
    runtime::throw_input_error(where_, "read failed (corrupt file?)");
  }
}

void H5File::flush() {
  Lock lock(h5_mutex());
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) fail_write("/", "flush failed (disk full or I/O error)");
}

}  // namespace missrec::data
