// The CPU attention kernel against the same function from LibTorch operators with
// autograd: outputs and the gradients of q, k and v, with padding, a fully masked row,
// dropout (the same mask on both sides), and shapes from one key to wide rows.
#include "model/attention_kernel.h"

#include <gtest/gtest.h>

#include "model/dropout.h"

namespace missrec::model {
namespace {

struct Inputs {
  torch::Tensor q, k, v, padding, grad;
};

Inputs make_inputs(int64_t batch, int64_t heads, int64_t targets, int64_t sources, int64_t dim, uint64_t seed) {
  torch::manual_seed(seed);
  Inputs in;
  // [B, len, heads, d] views with strided positions, as projections give them.
  in.q = (torch::randn({batch, targets, 3 * heads * dim}) * 0.5)
             .narrow(2, 0, heads * dim)
             .view({batch, targets, heads, dim});
  in.k = torch::randn({batch, sources, 2 * heads * dim}).narrow(2, 0, heads * dim).view({batch, sources, heads, dim});
  in.v = torch::randn({batch, sources, heads, dim});
  in.padding = torch::rand({batch, sources}) < 0.3;
  in.padding.select(1, 0).fill_(false);  // every sample keeps a key
  in.grad = torch::randn({batch, targets, heads, dim});
  return in;
}

double max_relative(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

// Outputs and gradients of both implementations; `mask` is the reference's dropout mask.
void expect_same(const Inputs& in, double p, uint64_t seed) {
  std::vector<torch::Tensor> kernel_grads;
  std::vector<torch::Tensor> reference_grads;
  torch::Tensor kernel_out;
  torch::Tensor reference_out;
  for (int side = 0; side < 2; ++side) {
    // Leaves with the inputs' strides: the kernel reads them in place.
    torch::Tensor q = in.q.detach().requires_grad_(true);
    torch::Tensor k = in.k.detach().requires_grad_(true);
    torch::Tensor v = in.v.detach().requires_grad_(true);
    torch::Tensor out;
    if (side == 0) {
      // The kernel draws its mask's seed from the default generator.
      torch::manual_seed(seed);
      out = attention_core(q, k, v, in.padding, p, true);
    } else {
      torch::manual_seed(seed);
      const torch::Tensor mask =
          p > 0.0
              ? attention_dropout_mask(draw_dropout_seed(), p, {in.q.size(0), in.q.size(2), in.q.size(1), in.k.size(1)})
              : torch::Tensor();
      out = attention_core_reference(q, k, v, in.padding, mask, 0.0, true);
    }
    (out * in.grad).sum().backward();
    (side == 0 ? kernel_out : reference_out) = out.detach();
    (side == 0 ? kernel_grads : reference_grads) = {q.grad(), k.grad(), v.grad()};
  }
  EXPECT_LE(max_relative(kernel_out, reference_out), 1e-5);
  const char* names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_LE(max_relative(kernel_grads[i], reference_grads[i]), 1e-5) << "gradient of " << names[i];
  }
}

TEST(AttentionKernel, MatchesAutogradWithoutDropout) {
  for (const auto& [targets, sources] : {std::pair{1, 1}, std::pair{5, 9}, std::pair{12, 12}, std::pair{50, 101}}) {
    expect_same(make_inputs(6, 4, targets, sources, 75, 3), 0.0, 0);
  }
}

TEST(AttentionKernel, MatchesAutogradWithTheSameDropoutMask) {
  expect_same(make_inputs(5, 4, 7, 13, 75, 4), 0.5, 1234);
  expect_same(make_inputs(3, 2, 30, 31, 16, 5), 0.2, 99);
}

TEST(AttentionKernel, AFullyMaskedRowIsNaNLikeSoftmax) {
  Inputs in = make_inputs(2, 2, 3, 4, 8, 6);
  in.padding.select(0, 1).fill_(true);
  const torch::Tensor out = attention_core(in.q, in.k, in.v, in.padding, 0.0, false);
  const torch::Tensor reference = attention_core_reference(in.q, in.k, in.v, in.padding, {}, 0.0, false);
  EXPECT_TRUE(out.select(0, 1).isnan().all().item<bool>());
  EXPECT_TRUE(reference.select(0, 1).isnan().all().item<bool>());
  EXPECT_LE(max_relative(out.select(0, 0), reference.select(0, 0)), 1e-5);
}

TEST(Dropout, KeepsOneMinusPAndScales) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::ones({1000, 1000});
  const torch::Tensor y = model::dropout(x, 0.3, true);
  const double kept = y.ne(0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.7, 0.003);  // 1e6 draws: sd 0.00046
  EXPECT_TRUE(torch::allclose(y.masked_select(y.ne(0)), torch::full({1}, 1.0f / 0.7f)));
  // Neighbouring elements are independent: P(both kept) = 0.49.
  const torch::Tensor both = y.narrow(1, 0, 999).ne(0).logical_and(y.narrow(1, 1, 999).ne(0));
  EXPECT_NEAR(both.to(torch::kDouble).mean().item<double>(), 0.49, 0.003);
  EXPECT_TRUE(torch::equal(model::dropout(x, 0.3, false), x));
  // The generator's state decides the mask.
  torch::manual_seed(1);
  EXPECT_TRUE(torch::equal(model::dropout(x, 0.3, true), y));
}

}  // namespace
}  // namespace missrec::model
