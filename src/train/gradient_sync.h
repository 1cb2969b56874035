#pragma once

#include <torch/torch.h>

#include <vector>

#include "train/parameter_set.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// Sums every gradient of a ParameterSet over the ranks with one allreduce per step
// The gradients are packed into one flat buffer, allocated once, together
// with a few scalars the step also needs summed (loss parts, per-domain sums, the stop
// flag), so a step costs one collective, not one per tensor.
class GradientSync {
 public:
  GradientSync(const ParameterSet& parameters, runtime::Communicator& comm, int64_t scalars);

  // Packs the gradients and `scalars` ([scalars] float32 on the device, as constructed),
  // allreduces (sum), writes the summed gradients back into .grad() and returns the
  // summed scalars, still on the device: nothing here waits for the device.
  torch::Tensor allreduce(const torch::Tensor& scalars);
  // The same for host values, read back (one host synchronisation).
  std::vector<double> allreduce(const std::vector<double>& scalars);

  int64_t bytes() const { return buffer_.numel() * static_cast<int64_t>(sizeof(float)); }
  const torch::Tensor& buffer() const { return buffer_; }

 private:
  const ParameterSet& parameters_;
  runtime::Communicator& comm_;
  int64_t scalars_;
  torch::Tensor buffer_;
};

}  // namespace missrec::train
