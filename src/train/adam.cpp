#include "train/adam.h"

#include <cmath>
#include <map>

#include "runtime/error.h"

namespace missrec::train {

Adam::Adam(const ParameterSet& parameters, AdamOptions options)
    : parameters_(parameters),
      options_(options),
      exp_avg_(torch::zeros_like(parameters.values())),
      exp_avg_sq_(torch::zeros_like(parameters.values())) {}

void Adam::step() {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  const double step_size = options_.lr / correction1;
  const double root_correction2 = std::sqrt(correction2);
  torch::Tensor values = parameters_.values();
  torch::Tensor grad = parameters_.gradients();
  if (options_.weight_decay != 0.0) grad = grad.add(values, options_.weight_decay);
  exp_avg_.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
  exp_avg_sq_.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
  const torch::Tensor denom = (exp_avg_sq_.sqrt() / root_correction2).add_(options_.eps);
  values.addcdiv_(exp_avg_, denom, -step_size);
}

OptimizerState Adam::state() const {
  OptimizerState state;
  state.steps = steps_;
  for (const auto& entry : parameters_.entries()) state.layout.emplace_back(entry.name, entry.tensor.numel());
  state.exp_avg = exp_avg_.to(torch::kCPU).clone();
  state.exp_avg_sq = exp_avg_sq_.to(torch::kCPU).clone();
  return state;
}

void Adam::load_state(const OptimizerState& state, const std::string& source) {
  std::map<std::string, std::pair<int64_t, int64_t>> theirs;  // name -> (offset, values)
  int64_t offset = 0;
  for (const auto& [name, size] : state.layout) {
    theirs[name] = {offset, size};
    offset += size;
  }
  if (!state.exp_avg.defined() || !state.exp_avg_sq.defined() || state.exp_avg.numel() != offset ||
      state.exp_avg_sq.numel() != offset) {
    runtime::throw_input_error(
        source, "optimizer moments do not match their layout (" + std::to_string(offset) + " values listed)");
  }
  torch::NoGradGuard no_grad;
  for (const auto& entry : parameters_.entries()) {
    const auto found = theirs.find(entry.name);
    if (found == theirs.end())
      runtime::throw_input_error(source, "no optimizer state for parameter '" + entry.name + "'");
    const auto [from, size] = found->second;
    if (size != entry.tensor.numel()) {
      runtime::throw_input_error(source, "optimizer state of '" + entry.name + "' has " + std::to_string(size) +
                                             " values, the parameter " + std::to_string(entry.tensor.numel()));
    }
    exp_avg_.narrow(0, entry.offset, size).copy_(state.exp_avg.narrow(0, from, size));
    exp_avg_sq_.narrow(0, entry.offset, size).copy_(state.exp_avg_sq.narrow(0, from, size));
  }
  steps_ = state.steps;
}

}  // namespace missrec::train
