// The model against the public implementation's numbers (the pretraining and both
// fine-tuning fixtures) and the
// invariants of the model's definition: trailing padding and padded positions never matter,
// fusion limits, missing modalities.
#include <gtest/gtest.h>

#include <cstdlib>

#include "support/fixture_path.h"

#include "model/missrec_model.h"
#include "tools/fixture.h"

namespace missrec::model {
namespace {

using missrec::testing::fixture_path;
using tools::check_model_parity;
using tools::load_model_fixture;
using tools::ModelFixture;
using tools::ParityLine;

void expect_parity(const std::string& name, size_t output_lines = 7) {
  MISSREC_SKIP_WITHOUT_FIXTURE(fixture_path(name));
  const ModelFixture fixture = load_model_fixture(fixture_path(name));
  const std::vector<ParityLine> lines = check_model_parity(fixture);
  EXPECT_EQ(lines.size(), output_lines + fixture.expected_grad.size());
  for (const ParityLine& line : lines) {
    EXPECT_TRUE(line.passed()) << name << ": " << line.name << " error " << line.error;
  }
}

TEST(ModelParity, SmallFixture) { expect_parity("missrec_forward_small.h5"); }
TEST(ModelParity, FullFixture) { expect_parity("missrec_forward_full.h5"); }
// Fine-tuning: z, the regulariser, the scores against every item and the loss of the
// training path, z and the regulariser of the plain forward, every gradient.
TEST(ModelParity, InductiveFinetuneFixture) { expect_parity("missrec_inductive_ft.h5", 6); }
TEST(ModelParity, TransductiveFinetuneFixture) {
  expect_parity("missrec_transductive_ft.h5", 6);
  const ModelFixture fixture = load_model_fixture(fixture_path("missrec_transductive_ft.h5"));
  EXPECT_EQ(fixture.expected_grad.count("item_embedding.weight"), 1u);
}

TEST(ModelParity, FinetuneDetectsAWrongItemEmbedding) {
  MISSREC_SKIP_WITHOUT_FIXTURE(fixture_path("missrec_transductive_ft.h5"));
  ModelFixture fixture = load_model_fixture(fixture_path("missrec_transductive_ft.h5"));
  const int64_t history_item = fixture.view.item_seq[0][0].item<int64_t>();
  fixture.weights["item_embedding.weight"][history_item] += 0.05 * torch::randn({fixture.config.hidden_size});
  std::map<std::string, bool> passed;
  for (const ParityLine& line : check_model_parity(fixture)) passed[line.name] = line.passed();
  EXPECT_FALSE(passed.at("seq_output"));
  EXPECT_FALSE(passed.at("seq_output (encode)"));
}

TEST(ModelParity, DetectsAWrongWeight) {
  MISSREC_SKIP_WITHOUT_FIXTURE(fixture_path("missrec_forward_small.h5"));
  ModelFixture fixture = load_model_fixture(fixture_path("missrec_forward_small.h5"));
  fixture.weights["trm_model.encoder.layers.0.linear1.bias"] += 0.01;
  int failed = 0;
  for (const ParityLine& line : check_model_parity(fixture)) failed += line.passed() ? 0 : 1;
  EXPECT_GT(failed, 0);
}

// A small model with random weights and tables for the invariants.
struct SmallModel {
  ModelConfig config;
  MissRec model{nullptr};
  ItemFeatures features;
  torch::Tensor interests;
  SequenceInput input;

  explicit SmallModel(int64_t max_seq_len = 12) {
    torch::manual_seed(3);
    config.hidden_size = 16;
    config.n_heads = 4;
    config.inner_size = 24;
    config.text_dim = 10;
    config.image_dim = 6;
    config.max_seq_len = max_seq_len;
    config.dropout = 0.0;
    config.attn_dropout = 0.0;
    model = MissRec(config);
    model->reset_parameters(11);
    {
      torch::NoGradGuard no_grad;
      model->fusion_factor.fill_(0.3);
    }
    features.text = torch::randn({21, 10});
    features.image = torch::randn({21, 6});
    features.text[0].zero_();
    features.image[0].zero_();
    features.image[5].zero_();  // an item without an image
    interests = torch::randn({6, 16});
    interests[0].zero_();
    input.item_seq = torch::tensor({{3, 5, 7, 0, 0}, {2, 0, 0, 0, 0}, {1, 4, 6, 8, 5}}, torch::kLong);
    input.item_length = torch::tensor({3, 1, 5}, torch::kLong);
    input.interest_seq = torch::tensor({{0, 1, 3, 0}, {0, 2, 0, 0}, {1, 2, 4, 5}}, torch::kLong);
  }
};

TEST(Model, TrailingPaddingDoesNotChangeZ) {
  SmallModel setup;
  const torch::Tensor z = setup.model->encode(setup.input, setup.features, setup.interests).z;
  SequenceInput wide = setup.input;
  wide.item_seq = torch::constant_pad_nd(setup.input.item_seq, {0, 7}, 0);  // to max_seq_len
  const torch::Tensor z_wide = setup.model->encode(wide, setup.features, setup.interests).z;
  EXPECT_TRUE(torch::allclose(z, z_wide, 1e-5, 1e-6)) << (z - z_wide).abs().max();
}

TEST(Model, PaddedPositionsNeverInfluenceZ) {
  SmallModel setup;
  const torch::Tensor z = setup.model->encode(setup.input, setup.features, setup.interests).z;
  ItemFeatures noisy = setup.features;
  noisy.text = setup.features.text.clone();
  noisy.image = setup.features.image.clone();
  noisy.text[0].normal_();  // padding rows now carry garbage
  noisy.image[0].normal_();
  const SequenceOutput out = setup.model->encode(setup.input, noisy, setup.interests);
  EXPECT_TRUE(torch::allclose(z, out.z, 1e-5, 1e-6)) << (z - out.z).abs().max();
}

TEST(Model, ZIsUnitLengthAndFinite) {
  SmallModel setup;
  const SequenceOutput out = setup.model->encode(setup.input, setup.features, setup.interests);
  EXPECT_TRUE(torch::isfinite(out.z).all().item<bool>());
  EXPECT_TRUE(torch::allclose(out.z.norm(2, 1), torch::ones({3}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::isfinite(out.reg).item<bool>());
}

TEST(Model, FusionLimits) {
  SmallModel setup;
  const torch::Tensor z = setup.model->encode(setup.input, setup.features, setup.interests).z;
  const torch::Tensor items = torch::tensor({1, 5, 9}, torch::kLong);  // 5 has no image
  const auto [text, image] = setup.model->item_vectors(items, setup.features);
  const torch::Tensor a = z.matmul(text.t());
  const torch::Tensor c = z.matmul(image.t());
  torch::NoGradGuard no_grad;
  setup.model->fusion_factor.fill_(0.0);
  EXPECT_TRUE(torch::allclose(setup.model->logits(z, text, image), (a + c) / 2, 1e-5, 1e-6));
  setup.model->fusion_factor.fill_(1e4);
  EXPECT_TRUE(torch::allclose(setup.model->logits(z, text, image), torch::max(a, c), 1e-4, 1e-5));
  EXPECT_TRUE(torch::isfinite(setup.model->logits(z, text, image)).all().item<bool>());
}

TEST(Model, MissingImageItemWorksEndToEnd) {
  SmallModel setup;
  SequenceInput only_missing = setup.input;
  only_missing.item_seq = torch::tensor({{5, 5, 0, 0, 0}, {5, 0, 0, 0, 0}, {5, 5, 5, 5, 5}}, torch::kLong);
  const SequenceOutput view = setup.model->encode(only_missing, setup.features, setup.interests);
  const SequenceOutput aug = setup.model->encode(setup.input, setup.features, setup.interests);
  const PretrainLosses losses =
      setup.model->pretrain_loss(view, aug, torch::tensor({5, 2, 3}, torch::kLong), setup.features);
  losses.total.backward();
  EXPECT_TRUE(torch::isfinite(losses.total).item<bool>());
  for (const auto& [name, value] : setup.model->named_tensors()) {
    ASSERT_TRUE(value.grad().defined()) << name;
    EXPECT_TRUE(torch::isfinite(value.grad()).all().item<bool>()) << name;
  }
}

TEST(Model, ParameterNamesAreTheSpecs) {
  ModelConfig config;
  MissRec model(config);
  const auto tensors = model->named_tensors();
  for (const char* name :
       {"text_adaptor.weight", "img_adaptor.bias", "position_embedding.weight", "LayerNorm.weight", "fusion_factor",
        "trm_model.encoder.layers.0.self_attn.in_proj_weight", "trm_model.encoder.layers.0.self_attn.out_proj.bias",
        "trm_model.encoder.norm.weight", "trm_model.decoder.layers.0.multihead_attn.in_proj_bias",
        "trm_model.decoder.layers.0.norm3.weight", "trm_model.decoder.norm.bias"}) {
    EXPECT_EQ(tensors.count(name), 1u) << name;
  }
  EXPECT_EQ(tensors.at("trm_model.encoder.layers.0.self_attn.in_proj_weight").sizes(),
            (std::vector<int64_t>{900, 300}));
  EXPECT_EQ(tensors.size(), 42u);
  ModelConfig transductive = config;
  transductive.n_items = 20;
  MissRec with_ids(transductive);
  EXPECT_EQ(with_ids->named_tensors().at("item_embedding.weight").sizes(), (std::vector<int64_t>{21, 300}));
  EXPECT_TRUE(with_ids->named_tensors().at("item_embedding.weight")[0].eq(0).all().item<bool>());
}

TEST(Model, InitialisationFollowsTheSpec) {
  ModelConfig config;
  MissRec model(config);
  const auto tensors = model->named_tensors();
  EXPECT_EQ(tensors.at("fusion_factor").item<float>(), 0.0f);
  EXPECT_TRUE(tensors.at("LayerNorm.weight").eq(1).all().item<bool>());
  EXPECT_TRUE(tensors.at("trm_model.decoder.norm.bias").eq(0).all().item<bool>());
  EXPECT_TRUE(tensors.at("text_adaptor.bias").eq(0).all().item<bool>());
  EXPECT_NEAR(tensors.at("text_adaptor.weight").std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(tensors.at("trm_model.encoder.layers.0.self_attn.in_proj_weight").std().item<double>(), 0.02, 0.001);
}

}  // namespace
}  // namespace missrec::model
