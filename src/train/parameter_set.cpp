#include "train/parameter_set.h"

#include <glog/logging.h>

#include "runtime/comm.h"

namespace missrec::train {

ParameterSet::ParameterSet(torch::nn::Module& module, int64_t reduced_scalars) {
  CHECK_GE(reduced_scalars, 0);
  at::Device device = at::kCPU;
  for (const auto& item : module.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    CHECK(item.value().scalar_type() == torch::kFloat) << item.key() << " is not float32";
    if (entries_.empty()) device = item.value().device();
    CHECK(item.value().device() == device) << item.key() << " is on " << item.value().device() << ", not " << device;
    entries_.push_back({item.key(), item.value(), numel_});
    numel_ += item.value().numel();
  }
  const auto options = torch::TensorOptions().dtype(torch::kFloat).device(device);
  values_ = torch::empty({numel_}, options);
  reduced_ = torch::zeros({numel_ + reduced_scalars}, options);
  gradients_ = reduced_.narrow(0, 0, numel_);
  torch::NoGradGuard no_grad;
  for (auto& entry : entries_) {
    const int64_t n = entry.tensor.numel();
    torch::Tensor value = values_.narrow(0, entry.offset, n).view_as(entry.tensor);
    value.copy_(entry.tensor.detach());
    entry.tensor.set_data(value);
    entry.tensor.mutable_grad() = gradients_.narrow(0, entry.offset, n).view_as(entry.tensor);
  }
}

void ParameterSet::zero_gradients() const { gradients_.zero_(); }

bool ParameterSet::gradients_bound() const {
  const float* base = numel_ > 0 ? gradients_.data_ptr<float>() : nullptr;
  for (const auto& entry : entries_) {
    const torch::Tensor& grad = entry.tensor.grad();
    if (!grad.defined() || grad.data_ptr<float>() != base + entry.offset) return false;
  }
  return true;
}

void broadcast_module(torch::nn::Module& module, runtime::Communicator& comm, int root) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& tensor : module.parameters()) tensors.push_back(tensor);
  for (const auto& tensor : module.buffers()) tensors.push_back(tensor);
  if (tensors.empty()) return;
  std::vector<torch::Tensor> flat_parts;
  for (const auto& tensor : tensors)
    flat_parts.push_back(tensor.detach().to(comm.device(), torch::kFloat).reshape({-1}));
  torch::Tensor flat = torch::cat(flat_parts);
  comm.broadcast(flat, root);
  int64_t offset = 0;
  for (auto& tensor : tensors) {
    const int64_t n = tensor.numel();
    tensor.copy_(flat.narrow(0, offset, n).view_as(tensor));
    offset += n;
  }
}

double module_checksum(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  double sum = 0.0;
  double index = 1.0;
  for (const auto& tensor : module.parameters()) {
    const torch::Tensor values = tensor.detach().to(torch::kCPU, torch::kDouble).reshape({-1});
    const torch::Tensor weights = torch::arange(1, values.numel() + 1, values.options()).remainder(97.0) + 1.0;
    sum += index * (values * weights).sum().item<double>();
    index += 1.0;
  }
  return sum;
}

void verify_same_on_all_ranks(double checksum, const std::string& what, runtime::Communicator& comm) {
  const torch::Tensor all =
      comm.allgather(torch::full({1}, checksum, torch::TensorOptions().dtype(torch::kDouble).device(comm.device())))
          .to(torch::kCPU);
  const double* values = all.data_ptr<double>();
  for (int r = 1; r < comm.size(); ++r) {
    CHECK(values[r] == values[0]) << what << " differ between ranks: rank 0 has " << values[0] << ", rank " << r
                                  << " has " << values[r];
  }
}

}  // namespace missrec::train
