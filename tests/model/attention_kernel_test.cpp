// The CPU attention kernel against the same function from LibTorch operators with
// autograd: outputs and the gradients of q, k and v, with padding, a fully masked row,
// dropout (the same mask on both sides), and shapes from one key to wide rows.
#include "model/attention_kernel.h"

#include <gtest/gtest.h>

#include "model/dropout.h"
#include "runtime/threads.h"

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

// Packed samples of different lengths against the reference run on each sample alone,
// with the mask elements the packed layout documents, on one thread and on several.
TEST(AttentionKernel, PackedSamplesMatchEachSampleAlone) {
  const int64_t heads = 2, dim = 6;
  const std::vector<int64_t> query_lengths = {3, 1, 7, 4, 2};
  const std::vector<int64_t> key_lengths = {5, 2, 7, 1, 3};
  AttentionSegments segments;
  int64_t queries = 0, keys = 0;
  for (size_t b = 0; b < query_lengths.size(); ++b) {
    segments.query_begin.push_back(queries);
    segments.query_length.push_back(query_lengths[b]);
    segments.key_begin.push_back(keys);
    segments.key_length.push_back(key_lengths[b]);
    queries += query_lengths[b];
    keys += key_lengths[b];
  }
  torch::manual_seed(8);
  // q as a strided view of wider projections, as the model gives it.
  const torch::Tensor q_rows = torch::randn({queries, 2 * heads * dim}).narrow(1, 0, heads * dim);
  const torch::Tensor k_rows = torch::randn({keys, heads * dim});
  const torch::Tensor v_rows = torch::randn({keys, heads * dim});
  torch::Tensor padding = torch::rand({keys}) < 0.3;
  for (const int64_t first : segments.key_begin) padding[first] = false;  // every sample keeps a key
  const torch::Tensor grad = torch::randn({queries, heads, dim});
  const double p = 0.3;
  const uint64_t seed = 77;
  for (const int threads : {1, 3}) {
    const runtime::ScopedIntraOpThreads scope(threads);
    torch::Tensor q = q_rows.detach().requires_grad_(true);
    torch::Tensor k = k_rows.detach().requires_grad_(true);
    torch::Tensor v = v_rows.detach().requires_grad_(true);
    torch::manual_seed(seed);
    const torch::Tensor out = attention_core_packed(q.view({queries, heads, dim}), k.view({keys, heads, dim}),
                                                    v.view({keys, heads, dim}), padding, segments, p, true);
    (out * grad).sum().backward();

    torch::manual_seed(seed);
    const uint64_t mask_seed = draw_dropout_seed();
    int64_t mask_begin = 0;
    for (size_t b = 0; b < query_lengths.size(); ++b) {
      const int64_t nq = query_lengths[b], nk = key_lengths[b];
      const int64_t q0 = segments.query_begin[b], k0 = segments.key_begin[b];
      torch::Tensor mask = torch::empty({1, heads, nq, nk});
      dropout_mask(mask_seed, p, mask_begin, mask.numel(), mask.data_ptr<float>());
      mask_begin += mask.numel();
      torch::Tensor qb = q_rows.narrow(0, q0, nq).detach().requires_grad_(true);
      torch::Tensor kb = k_rows.narrow(0, k0, nk).detach().requires_grad_(true);
      torch::Tensor vb = v_rows.narrow(0, k0, nk).detach().requires_grad_(true);
      const torch::Tensor reference = attention_core_reference(
          qb.view({1, nq, heads, dim}), kb.view({1, nk, heads, dim}), vb.view({1, nk, heads, dim}),
          padding.narrow(0, k0, nk).view({1, nk}), mask, 0.0, true);
      (reference * grad.narrow(0, q0, nq).unsqueeze(0)).sum().backward();
      const std::string where = "sample " + std::to_string(b) + ", " + std::to_string(threads) + " threads";
      EXPECT_LE(max_relative(out.narrow(0, q0, nq), reference.squeeze(0)), 1e-5) << where;
      EXPECT_LE(max_relative(q.grad().narrow(0, q0, nq), qb.grad()), 1e-5) << "gradient of q, " << where;
      EXPECT_LE(max_relative(k.grad().narrow(0, k0, nk), kb.grad()), 1e-5) << "gradient of k, " << where;
      EXPECT_LE(max_relative(v.grad().narrow(0, k0, nk), vb.grad()), 1e-5) << "gradient of v, " << where;
    }
  }
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
  // Any range of a mask is the same range of the whole.
  torch::Tensor whole = torch::empty({5000});
  torch::Tensor range = torch::empty({1234});
  dropout_mask(42, 0.4, 0, whole.numel(), whole.data_ptr<float>());
  dropout_mask(42, 0.4, 777, range.numel(), range.data_ptr<float>());
  EXPECT_TRUE(torch::equal(whole.narrow(0, 777, 1234), range));
}

}  // namespace
}  // namespace missrec::model
