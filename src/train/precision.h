#pragma once

#include <ATen/ATen.h>

#include <string>

namespace missrec::train {

// train.precision: float32 everywhere, or bf16 matrix products (autocast) with float32
// master weights, optimizer state, softmax, LayerNorm, normalisation and losses.
enum class Precision { kFp32, kBf16 };

// "fp32" or "bf16" (the config table has already checked the choice).
Precision precision_of(const std::string& name);

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
