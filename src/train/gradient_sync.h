#pragma once

#include <torch/torch.h>

#include <vector>

#include "train/parameter_set.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// Sums a step's gradients over the ranks with one allreduce, in place on the
// ParameterSet's reduced buffer (the gradients, then the few scalars the step also needs
// summed: loss parts, per-domain sums, the stop flag), so a step costs one collective
// and no copy of the gradients.
class GradientSync {
 public:
  GradientSync(const ParameterSet& parameters, runtime::Communicator& comm);

  // Writes `scalars` ([reduced_scalars] float32 on the device) after the gradients,
  // allreduces (sum) the buffer and returns the summed scalars, still on the device:
  // nothing here waits for the device.
  torch::Tensor allreduce(const torch::Tensor& scalars);
  // The same for host values, read back (one host synchronisation).
  std::vector<double> allreduce(const std::vector<double>& scalars);

  int64_t bytes() const { return parameters_.reduced_buffer().numel() * static_cast<int64_t>(sizeof(float)); }
  const torch::Tensor& buffer() const { return parameters_.reduced_buffer(); }

 private:
  const ParameterSet& parameters_;
  runtime::Communicator& comm_;
};

}  // namespace missrec::train
