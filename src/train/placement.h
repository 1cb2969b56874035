#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "train/adam.h"

namespace missrec::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Aborts (glog CHECK) naming the first defined tensor that is not on `device`: a
// tensor left behind on another device fails at its first use with a message that does
// not say which tensor it was, or, worse, runs there silently. `where` names the caller.
void check_placement(const NamedTensors& tensors, at::Device device, const std::string& where);

// Adds `tensors` to `out` with `prefix` before each name.
void add_named(NamedTensors& out, const std::string& prefix, const NamedTensors& tensors);

// Adds the model's parameters and buffers ("model.*") and Adam's moments ("adam.*").
void add_training_state(NamedTensors& out, torch::nn::Module& model, const Adam& adam);

}  // namespace missrec::train
