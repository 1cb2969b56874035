#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "train/parameter_set.h"

#include "runtime/config.h"

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

// torch.optim.Adam's update on the parameters of a ParameterSet. Its state (step,
// first and second moments by parameter name) is plain tensors, so checkpoints hold it
// and a resumed run continues bit for bit.
class Adam {
 public:
  Adam(const ParameterSet& parameters, AdamOptions options);

  // One update from the parameters' .grad() (undefined gradients count as zero).
  void step();

  int64_t steps() const { return steps_; }
  struct Moments {
    torch::Tensor exp_avg;
    torch::Tensor exp_avg_sq;
  };
  std::map<std::string, Moments>& moments() { return moments_; }
  const std::map<std::string, Moments>& moments() const { return moments_; }
  // Restores the state; throws InputError naming `source` when a parameter is missing
  // or has another shape.
  void load_state(int64_t steps, const std::map<std::string, Moments>& moments, const std::string& source);

 private:
  const ParameterSet& parameters_;
  AdamOptions options_;
  int64_t steps_ = 0;
  std::map<std::string, Moments> moments_;
};

}  // namespace missrec::train
