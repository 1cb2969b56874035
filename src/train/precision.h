#pragma once

#include <ATen/ATen.h>

#include "runtime/config.h"

namespace missrec::train {

using runtime::Precision;

// For its lifetime, matrix products on `device` run in bf16 when `precision` asks for it.
// Wraps a forward pass only: backward runs each op in the dtypes its forward used.
class MixedPrecisionScope {
 public:
  MixedPrecisionScope(Precision precision, at::Device device);
  ~MixedPrecisionScope();
  MixedPrecisionScope(const MixedPrecisionScope&) = delete;
  MixedPrecisionScope& operator=(const MixedPrecisionScope&) = delete;

 private:
  bool active_ = false;
  at::DeviceType device_type_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

}  // namespace missrec::train
