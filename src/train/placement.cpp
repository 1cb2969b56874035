#include "train/placement.h"

#include <glog/logging.h>

namespace missrec::train {

void check_placement(const NamedTensors& tensors, at::Device device, const std::string& where) {
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) continue;
    CHECK(tensor.device() == device) << where << ": tensor '" << name << "' is on " << tensor.device()
                                     << ", the run's device is " << device;
  }
}

void add_named(NamedTensors& out, const std::string& prefix, const NamedTensors& tensors) {
  for (const auto& [name, tensor] : tensors) out.emplace_back(prefix + name, tensor);
}

}  // namespace missrec::train
