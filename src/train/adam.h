#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "runtime/config.h"
#include "train/parameter_set.h"

namespace missrec::train {

struct AdamOptions {
  double lr = runtime::TrainConfig{}.lr;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = runtime::TrainConfig{}.weight_decay;  // L2 added to the gradient, as torch.optim.Adam
};

// Adam's options for a run: the configured learning rate and weight decay, torch's betas and eps.
inline AdamOptions adam_options_of(const runtime::TrainConfig& train) {
  AdamOptions options;
  options.lr = train.lr;
  options.weight_decay = train.weight_decay;
  return options;
}

// Adam's state as checkpoints hold it: the step count and both moments flat, laid out
// as `layout` lists (parameter name, values), in that order.
struct OptimizerState {
  int64_t steps = 0;
  std::vector<std::pair<std::string, int64_t>> layout;
  torch::Tensor exp_avg;     // [sum of the layout's values] float32
  torch::Tensor exp_avg_sq;  // the same
};

// torch.optim.Adam's update on a ParameterSet, in one pass over its flat buffers (the
// same float operations per value as torch's per-tensor loop, so the same bits). Its
// moments are two flat buffers in the ParameterSet's layout, so checkpoints and
// broadcasts handle one tensor each and a resumed run continues bit for bit.
class Adam {
 public:
  Adam(const ParameterSet& parameters, AdamOptions options);

  // One update from the gradient buffer.
  void step();

  int64_t steps() const { return steps_; }
  double lr() const { return options_.lr; }
  torch::Tensor& exp_avg() { return exp_avg_; }
  torch::Tensor& exp_avg_sq() { return exp_avg_sq_; }
  const torch::Tensor& exp_avg() const { return exp_avg_; }
  const torch::Tensor& exp_avg_sq() const { return exp_avg_sq_; }

  // The state, on the host, in this ParameterSet's layout.
  OptimizerState state() const;
  // Restores a state; one written in another layout is matched by parameter name.
  // Throws InputError naming `source` when a parameter is missing or has another size.
  void load_state(const OptimizerState& state, const std::string& source);
  // Sets the step count (ranks that received the moments by broadcast).
  void set_steps(int64_t steps) { steps_ = steps; }

 private:
  const ParameterSet& parameters_;
  AdamOptions options_;
  int64_t steps_ = 0;
  torch::Tensor exp_avg_;
  torch::Tensor exp_avg_sq_;
};

}  // namespace missrec::train
