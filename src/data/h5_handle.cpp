#include "data/h5_handle.h"

#include <glog/logging.h>

#include <utility>

namespace missrec::data {

std::recursive_mutex& h5_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

H5Handle::~H5Handle() { reset(); }

H5Handle::H5Handle(H5Handle&& other) noexcept : id_(std::exchange(other.id_, -1)) {}

H5Handle& H5Handle::operator=(H5Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = std::exchange(other.id_, -1);
  }
  return *this;
}

void H5Handle::reset() {
  if (id_ < 0) return;
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  herr_t status = 0;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      status = H5Fclose(id_);
      break;
    case H5I_GROUP:
      status = H5Gclose(id_);
      break;
    case H5I_DATASET:
      status = H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      status = H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      status = H5Tclose(id_);
      break;
    case H5I_ATTR:
      status = H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      status = H5Pclose(id_);
      break;
    default:
      status = H5Idec_ref(id_);
      break;
  }
  if (status < 0) LOG(WARNING) << "closing HDF5 id " << id_ << " failed";
  id_ = -1;
}

void silence_hdf5_errors() {
  std::lock_guard<std::recursive_mutex> lock(h5_mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace detail {

void h5_call_failed(const char* call, const char* file, int line) {
  LOG(FATAL) << "HDF5 call failed: " << call << " at " << file << ":" << line;
  std::abort();  // LOG(FATAL) does not return; this tells the compiler so
}

}  // namespace detail

}  // namespace missrec::data
