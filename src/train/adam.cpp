#include "train/adam.h"

#include <cmath>

#include "runtime/error.h"

namespace missrec::train {

Adam::Adam(const ParameterSet& parameters, AdamOptions options) : parameters_(parameters), options_(options) {
  for (const auto& entry : parameters_.entries()) {
    moments_[entry.name] = {torch::zeros_like(entry.tensor), torch::zeros_like(entry.tensor)};
  }
}

void Adam::step() {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  const double step_size = options_.lr / correction1;
  const double root_correction2 = std::sqrt(correction2);
  for (const auto& entry : parameters_.entries()) {
    torch::Tensor grad = entry.tensor.grad();
    if (!grad.defined()) grad = torch::zeros_like(entry.tensor);
    if (options_.weight_decay != 0.0) grad = grad.add(entry.tensor, options_.weight_decay);
    Moments& state = moments_.at(entry.name);
    state.exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    state.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    const torch::Tensor denom = (state.exp_avg_sq.sqrt() / root_correction2).add_(options_.eps);
    entry.tensor.addcdiv_(state.exp_avg, denom, -step_size);
  }
}

void Adam::load_state(int64_t steps, const std::map<std::string, Moments>& moments, const std::string& source) {
  for (auto& [name, state] : moments_) {
    const auto found = moments.find(name);
    if (found == moments.end()) runtime::throw_input_error(source, "no optimizer state for parameter '" + name + "'");
    for (const auto& [mine, theirs] :
         {std::pair{&state.exp_avg, &found->second.exp_avg}, std::pair{&state.exp_avg_sq, &found->second.exp_avg_sq}}) {
      if (!theirs->defined() || theirs->sizes() != mine->sizes()) {
        runtime::throw_input_error(source, "optimizer state of '" + name + "' has the wrong shape");
      }
      mine->copy_(*theirs);
    }
  }
  steps_ = steps;
}

}  // namespace missrec::train
