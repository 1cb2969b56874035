#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <glog/logging.h>
#include <torch/version.h>

namespace missrec::train {

namespace {

// LibTorch 2.4 made autocast's state per device type; 1.13 has one call per device kind.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(at::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
void set_autocast_enabled(at::DeviceType type, bool enabled) { at::autocast::set_autocast_enabled(type, enabled); }
at::ScalarType autocast_dtype(at::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
void set_autocast_dtype(at::DeviceType type, at::ScalarType dtype) { at::autocast::set_autocast_dtype(type, dtype); }
#else
bool autocast_enabled(at::DeviceType type) {
  return type == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(at::DeviceType type, bool enabled) {
  if (type == at::kCUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
}
at::ScalarType autocast_dtype(at::DeviceType type) {
  return type == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(at::DeviceType type, at::ScalarType dtype) {
  if (type == at::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace

MixedPrecisionScope::MixedPrecisionScope(Precision precision, at::Device device)
    : active_(precision == Precision::kBf16), device_type_(device.type()) {
  if (!active_) return;
  CHECK(device_type_ == at::kCPU || device_type_ == at::kCUDA) << "bf16 autocast on " << device;
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast_dtype(device_type_, at::kBFloat16);
  set_autocast_enabled(device_type_, true);
  at::autocast::increment_nesting();
}

MixedPrecisionScope::~MixedPrecisionScope() {
  if (!active_) return;
  // The cache holds bf16 copies of the weights for one forward pass.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_type_, was_enabled_);
  set_autocast_dtype(device_type_, previous_dtype_);
}

}  // namespace missrec::train
