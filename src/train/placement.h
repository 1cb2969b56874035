#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace missrec::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Aborts (glog CHECK) naming the first defined tensor that is not on `device`: a
// tensor left behind on another device fails at its first use with a message that does
// not say which tensor it was, or, worse, runs there silently. `where` names the caller.
void check_placement(const NamedTensors& tensors, at::Device device, const std::string& where);

// Adds `tensors` to `out` with `prefix` before each name.
void add_named(NamedTensors& out, const std::string& prefix, const NamedTensors& tensors);

}  // namespace missrec::train
