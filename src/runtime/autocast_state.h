#pragma once

#include <ATen/ATen.h>

namespace missrec::runtime {

// LibTorch's autocast state for a device type (CPU or CUDA), the same calls on LibTorch
// 1.13 (one call per device kind) and 2.4+ (per device type).
bool autocast_enabled(at::DeviceType type);
void set_autocast_enabled(at::DeviceType type, bool enabled);
at::ScalarType autocast_dtype(at::DeviceType type);
void set_autocast_dtype(at::DeviceType type, at::ScalarType dtype);

// True inside a bf16 MixedPrecisionScope on `type`: what the CPU kernels, which autocast
// does not reach, read to compute their products in bf16.
inline bool bf16_autocast(at::DeviceType type) {
  return autocast_enabled(type) && autocast_dtype(type) == at::kBFloat16;
}

}  // namespace missrec::runtime
