#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <glog/logging.h>

#include "runtime/autocast_state.h"
#include "runtime/error.h"
#include "runtime/onednn_sgemm.h"

namespace missrec::train {

using runtime::autocast_dtype;
using runtime::autocast_enabled;
using runtime::set_autocast_dtype;
using runtime::set_autocast_enabled;

void check_precision_supported(Precision precision, at::Device device) {
  if (precision != Precision::kBf16 || !device.is_cpu() || runtime::cpu_has_bf16_arithmetic()) return;
  runtime::throw_input_error("train.precision",
                             "bf16 needs a CPU with bf16 arithmetic (AVX512_BF16 or AMX-BF16); this CPU has "
                             "neither, so bf16 would be slower than fp32: use fp32");
}

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
