#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/missrec_model.h"

namespace missrec::tools {

// The training stage a fixture covers (its /config train_stage attribute, pretraining
// when absent).
enum class FixtureStage { kPretrain, kInductive, kTransductive };

// A parity case in the layout of tests/fixtures (see its README): weights, tables, a
// batch (with its augmented view for pretraining), and the public implementation's
// outputs and gradients.
struct ModelFixture {
  FixtureStage stage = FixtureStage::kPretrain;
  model::ModelConfig config;
  std::map<std::string, torch::Tensor> weights;
  std::map<std::string, torch::Tensor> expected_grad;
  model::ItemFeatures features;
  torch::Tensor interest_embeddings;
  model::SequenceInput view;
  model::SequenceInput aug;  // pretraining only
  torch::Tensor pos_item;
  std::map<std::string, torch::Tensor> expected;  // seq_output, interest_reg, loss_total, ...
};

// Throws InputError naming the file and dataset for anything missing or malformed.
ModelFixture load_model_fixture(const std::string& path);

struct ParityLine {
  std::string name;
  double error = 0.0;  // max relative error (see parity.cpp for the measure)
  double tolerance = 0.0;
  bool passed() const { return error <= tolerance; }
};

// Runs the model on the fixture on `device` as its stage trains (pretraining: both views,
// the contrastive losses; fine-tuning: the length-aware forward against every item, the
// fine-tuning loss, and the plain forward `missrec encode` runs), backward, and compares
// every output and gradient with the README's tolerances.
std::vector<ParityLine> check_model_parity(const ModelFixture& fixture, at::Device device = at::kCPU);

}  // namespace missrec::tools
