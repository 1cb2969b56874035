// The placement check, and the order that keeps the optimizer's state on the model's
// device. LibTorch's meta device stands in for a GPU: tensors there have a device and a
// shape but no data, so a CPU machine can see where everything was created.
#include "train/placement.h"

#include <gtest/gtest.h>

#include "model/missrec_model.h"
#include "train/adam.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"

namespace missrec::train {
namespace {

model::ModelConfig small_model() {
  model::ModelConfig config;
  config.hidden_size = 16;
  config.n_heads = 2;
  config.inner_size = 32;
  config.text_dim = 8;
  config.image_dim = 8;
  return config;
}

TEST(PlacementDeathTest, NamesTheTensorOnAnotherDevice) {
  const NamedTensors tensors = {{"features.text", at::zeros({4, 3})},
                                {"adam.exp_avg.w", at::empty({4, 3}, at::TensorOptions().device(at::kMeta))}};
  EXPECT_DEATH(check_placement(tensors, at::kCPU, "pretraining step"),
               "pretraining step: tensor 'adam.exp_avg.w' is on meta, the run's device is cpu");
}

TEST(Placement, UndefinedTensorsAndTensorsOnTheDevicePass) {
  check_placement({{"a", at::zeros({2})}, {"absent", at::Tensor()}}, at::kCPU, "test");
}

// A module whose parameters live on the meta device (LibTorch 1.13 cannot move a module
// there, so they are created there).
struct MetaModule : torch::nn::Module {
  MetaModule() {
    register_parameter("weight", at::zeros({4, 3}, at::TensorOptions().device(at::kMeta)));
    register_parameter("bias", at::zeros({4}, at::TensorOptions().device(at::kMeta)));
  }
};

TEST(Placement, OptimizerStateFollowsTheParameters) {
  // Adam's moments are created where the parameters are when Adam is built: the model
  // must be placed first (make_model).
  MetaModule module;
  ParameterSet parameters(module);
  Adam adam(parameters, AdamOptions{});
  NamedTensors tensors;
  tensors.emplace_back("adam.exp_avg", adam.exp_avg());
  tensors.emplace_back("adam.exp_avg_sq", adam.exp_avg_sq());
  tensors.emplace_back("gradients", parameters.gradients());
  check_placement(tensors, at::kMeta, "meta module");
  EXPECT_DEATH(check_placement(tensors, at::kCPU, "meta module"), "is on meta, the run's device is cpu");
}

TEST(Placement, MakeModelPlacesEveryParameter) {
  model::MissRec model = make_model(small_model(), 7, at::kCPU);
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  ASSERT_GT(tensors.size(), 10u);
  check_placement(tensors, at::kCPU, "make_model");
}

}  // namespace
}  // namespace missrec::train
