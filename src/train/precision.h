#pragma once

#include <ATen/ATen.h>

#include "runtime/config.h"

namespace missrec::train {

using runtime::Precision;

// InputError naming train.precision when bf16 is asked for on a CPU without bf16
// arithmetic (AVX512_BF16 or AMX): there its products would be emulated, slower than fp32.
void check_precision_supported(Precision precision, at::Device device);

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
