// The fused similarity kernel against the same function from LibTorch operators with
// autograd (outputs, the gradients of a, c and the factor), and its factor gradient
// bit-identical across thread counts.
#include "model/similarity_fusion.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace missrec::model {
namespace {

double max_relative(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

struct Result {
  torch::Tensor out, grad_a, grad_c, grad_factor;
};

Result run(const torch::Tensor& a_data, const torch::Tensor& c_data, float factor_value, const torch::Tensor& grad,
           bool kernel) {
  torch::Tensor a = a_data.detach().requires_grad_(true);
  torch::Tensor c = c_data.detach().requires_grad_(true);
  torch::Tensor factor = torch::tensor(factor_value).requires_grad_(true);
  torch::Tensor out;
  if (kernel) {
    out = fuse_similarities(a, c, factor);
  } else {
    out = (torch::stack({a, c}, -1) * torch::softmax(torch::stack({a, c}, -1) * factor, -1)).sum(-1);
  }
  (out * grad).sum().backward();
  return {out.detach(), a.grad(), c.grad(), factor.grad()};
}

TEST(SimilarityFusion, MatchesTheSoftmaxOverBothSimilarities) {
  torch::manual_seed(3);
  const torch::Tensor a = torch::randn({300, 700}) * 0.3;
  const torch::Tensor c = torch::randn({300, 700}) * 0.3;
  const torch::Tensor grad = torch::randn({300, 700});
  for (const float factor : {0.0f, 0.7f, -2.5f}) {
    const Result kernel = run(a, c, factor, grad, true);
    const Result reference = run(a, c, factor, grad, false);
    const std::string where = "factor " + std::to_string(factor);
    EXPECT_LE(max_relative(kernel.out, reference.out), 1e-5) << where;
    EXPECT_LE(max_relative(kernel.grad_a, reference.grad_a), 1e-5) << "gradient of a, " << where;
    EXPECT_LE(max_relative(kernel.grad_c, reference.grad_c), 1e-5) << "gradient of c, " << where;
    EXPECT_LE(max_relative(kernel.grad_factor, reference.grad_factor), 1e-4) << "gradient of the factor, " << where;
  }
}

TEST(SimilarityFusion, FactorGradientDoesNotDependOnThreads) {
  torch::manual_seed(4);
  const torch::Tensor a = torch::randn({1000, 1000});
  const torch::Tensor c = torch::randn({1000, 1000});
  const torch::Tensor grad = torch::randn({1000, 1000});
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const Result one = run(a, c, 0.3f, grad, true);
  at::set_num_threads(3);
  const Result three = run(a, c, 0.3f, grad, true);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one.grad_factor, three.grad_factor));
  EXPECT_TRUE(torch::equal(one.grad_a, three.grad_a));
}

}  // namespace
}  // namespace missrec::model
