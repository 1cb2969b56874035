#include "train/gradient_sync.h"

#include <glog/logging.h>

#include "runtime/comm.h"

namespace missrec::train {

GradientSync::GradientSync(const ParameterSet& parameters, runtime::Communicator& comm, int64_t scalars)
    : parameters_(parameters), comm_(comm), scalars_(scalars) {
  buffer_ =
      torch::zeros({parameters_.numel() + scalars_}, torch::TensorOptions().dtype(torch::kFloat).device(comm.device()));
}

std::vector<double> GradientSync::allreduce(const std::vector<double>& scalars) {
  const torch::Tensor summed =
      allreduce(torch::tensor(std::vector<float>(scalars.begin(), scalars.end())).to(buffer_.device()))
          .to(torch::kCPU, torch::kDouble);
  return std::vector<double>(summed.data_ptr<double>(), summed.data_ptr<double>() + scalars_);
}

torch::Tensor GradientSync::allreduce(const torch::Tensor& scalars) {
  CHECK_EQ(scalars.numel(), scalars_);
  torch::NoGradGuard no_grad;
  for (const auto& entry : parameters_.entries()) {
    torch::Tensor slot = buffer_.narrow(0, entry.offset, entry.tensor.numel());
    const torch::Tensor& grad = entry.tensor.grad();
    if (grad.defined()) {
      slot.copy_(grad.reshape({-1}));
    } else {
      slot.zero_();
    }
  }
  torch::Tensor tail = buffer_.narrow(0, parameters_.numel(), scalars_);
  tail.copy_(scalars.reshape({-1}));
  comm_.allreduce(buffer_, runtime::ReduceOp::kSum);
  for (const auto& entry : parameters_.entries()) {
    const torch::Tensor slot = buffer_.narrow(0, entry.offset, entry.tensor.numel()).view_as(entry.tensor);
    if (entry.tensor.grad().defined()) {
      entry.tensor.mutable_grad().copy_(slot);
    } else {
      entry.tensor.mutable_grad() = slot.clone();
    }
  }
  return tail.clone();
}

}  // namespace missrec::train
