// train.precision: bf16 changes the computation on every path the step takes: one
// forward of the length-aware model (linear layers, attention, adaptors) differs from
// fp32 by bf16's rounding (relative 1e-4 .. 3e-2: not 0, not wholesale), on the CPU
// kernels and on the LibTorch-operator path other devices run. Skipped (CTest status 77)
// on a CPU without bf16 arithmetic, where bf16 is refused.
#include <gtest/gtest.h>

#include "model/kernel_choice.h"
#include "model/linear.h"
#include "model/missrec_model.h"
#include "runtime/onednn_sgemm.h"
#include "train/precision.h"

namespace missrec::train {
namespace {

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>() /
         b.to(torch::kFloat).abs().max().item<double>();
}

class Bf16Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!runtime::cpu_has_bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic: bf16 is refused";
  }
};

TEST_F(Bf16Test, LinearLayersMultiplyInBf16) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({64, 96});
  const torch::Tensor w = torch::randn({48, 96});
  const torch::Tensor b = torch::randn({48});
  const torch::Tensor fp32 = model::linear(x, w, b);
  torch::Tensor bf16;
  {
    const MixedPrecisionScope scope(Precision::kBf16, at::kCPU);
    bf16 = model::linear(x, w, b);
  }
  // oneDNN's bf16 GEMM accumulates and writes float32; without it LibTorch's linear runs
  // under autocast and returns bf16 (the following ops cast back where they need float32).
  const auto expected = runtime::has_onednn_bf16_gemm() ? torch::kFloat : torch::kBFloat16;
  EXPECT_EQ(bf16.scalar_type(), expected);
  const double difference = relative_difference(bf16, fp32);
  EXPECT_GT(difference, 1e-4) << "bf16 changed nothing";
  EXPECT_LT(difference, 1e-2);
}

model::MissRec small_model() {
  model::ModelConfig config;
  config.hidden_size = 32;
  config.n_heads = 4;
  config.inner_size = 48;
  config.text_dim = 24;
  config.image_dim = 20;
  config.max_seq_len = 12;
  config.dropout = 0.0;
  config.attn_dropout = 0.0;
  model::MissRec model(config);
  model->reset_parameters(5);
  return model;
}

// z of one length-aware forward, in fp32 or bf16.
torch::Tensor forward_z(model::MissRecImpl& model, Precision precision) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(9);
  const int64_t items = 40, batch = 16;
  model::ItemFeatures features;
  features.text = torch::randn({items + 1, 24}, generator);
  features.image = torch::randn({items + 1, 20}, generator);
  model::SequenceInput input;
  input.item_length = torch::randint(1, 13, {batch}, generator);
  input.item_seq = torch::randint(1, items + 1, {batch, 12}, generator);
  input.item_seq.masked_fill_(torch::arange(12).unsqueeze(0) >= input.item_length.unsqueeze(1), 0);
  input.interest_seq = torch::randint(1, 9, {batch, 5}, generator);
  const torch::Tensor interests = torch::randn({9, 32}, generator);
  const MixedPrecisionScope scope(precision, at::kCPU);
  const model::AdaptedItems adapted = model.adapt_items({input.item_seq}, features);
  return model.encode_by_length(input, adapted, interests).z;
}

TEST_F(Bf16Test, TheForwardDiffersByBf16RoundingOnTheCpuKernels) {
  model::MissRec model = small_model();
  const double difference =
      relative_difference(forward_z(*model, Precision::kBf16), forward_z(*model, Precision::kFp32));
  EXPECT_GT(difference, 1e-4) << "bf16 changed nothing on the CPU kernels";
  EXPECT_LT(difference, 3e-2);
}

TEST_F(Bf16Test, TheForwardDiffersByBf16RoundingOnTheTensorOpPath) {
  model::MissRec model = small_model();
  const model::TensorOpsOnly tensor_ops;
  const double difference =
      relative_difference(forward_z(*model, Precision::kBf16), forward_z(*model, Precision::kFp32));
  EXPECT_GT(difference, 1e-4) << "bf16 changed nothing on the LibTorch-operator path";
  EXPECT_LT(difference, 3e-2);
}

TEST(Precision, Fp32IsAlwaysSupported) { EXPECT_NO_THROW(check_precision_supported(Precision::kFp32, at::kCPU)); }

}  // namespace
}  // namespace missrec::train
