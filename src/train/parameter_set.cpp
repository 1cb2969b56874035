#include "train/parameter_set.h"

#include <glog/logging.h>

#include "runtime/comm.h"

namespace missrec::train {

ParameterSet::ParameterSet(torch::nn::Module& module) {
  for (const auto& item : module.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    CHECK(item.value().scalar_type() == torch::kFloat) << item.key() << " is not float32";
    entries_.push_back({item.key(), item.value(), numel_});
    numel_ += item.value().numel();
  }
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
