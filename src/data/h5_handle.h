#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>

namespace missrec::data {

// Debian's HDF5 is built without thread safety: every HDF5 call in the process holds
// this lock (the prefetch thread and the main thread both read files).
std::recursive_mutex& h5_mutex();

// Move-only owner of one HDF5 identifier; closes it with the matching H5*close call.
// Destructors never throw (a failed close is logged).
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  ~H5Handle();
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& other) noexcept;
  H5Handle& operator=(H5Handle&& other) noexcept;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = -1;
};

// Silences HDF5's own error stack printing: errors are reported by our messages.
void silence_hdf5_errors();

namespace detail {
// Reports a failed HDF5 call with its text and place, then aborts (glog).
[[noreturn]] void h5_call_failed(const char* call, const char* file, int line);
}  // namespace detail

}  // namespace missrec::data

// For HDF5 calls whose failure is not a property of a file's content (types, property
// lists and selections this code builds, freeing HDF5's memory): a failure is a broken
// invariant, reported with the call's text. Calls that can fail on a bad or full file
// are checked where they are made and throw InputError / OutputError naming the file.
#define MISSREC_H5_CHECK(call)                                                          \
  do {                                                                                  \
    if ((call) < 0) ::missrec::data::detail::h5_call_failed(#call, __FILE__, __LINE__); \
  } while (0)
