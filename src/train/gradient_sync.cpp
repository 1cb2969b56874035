#include "train/gradient_sync.h"

#include <glog/logging.h>

#include "runtime/comm.h"

namespace missrec::train {

GradientSync::GradientSync(const ParameterSet& parameters, runtime::Communicator& comm)
    : parameters_(parameters), comm_(comm) {
  CHECK(parameters.reduced_buffer().device() == comm.device() || parameters.numel() == 0)
      << "the gradient buffer is on " << parameters.reduced_buffer().device() << ", the communicator's device is "
      << comm.device();
}

std::vector<double> GradientSync::allreduce(const std::vector<double>& scalars) {
  const torch::Tensor summed =
      allreduce(torch::tensor(std::vector<float>(scalars.begin(), scalars.end())).to(buffer().device()))
          .to(torch::kCPU, torch::kDouble);
  return std::vector<double>(summed.data_ptr<double>(), summed.data_ptr<double>() + summed.numel());
}

torch::Tensor GradientSync::allreduce(const torch::Tensor& scalars) {
  const int64_t count = parameters_.reduced_scalars();
  CHECK_EQ(scalars.numel(), count);
  CHECK(parameters_.gradients_bound()) << "a parameter's gradient no longer lies in the flat gradient buffer";
  torch::NoGradGuard no_grad;
  torch::Tensor buffer = parameters_.reduced_buffer();
  torch::Tensor tail = buffer.narrow(0, parameters_.numel(), count);
  tail.copy_(scalars.reshape({-1}));
  comm_.allreduce(buffer, runtime::ReduceOp::kSum);
  return tail.clone();
}

}  // namespace missrec::train
