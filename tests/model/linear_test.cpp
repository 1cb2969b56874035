// model::linear (oneDNN's SGEMM on the CPU where the process has it) against torch's
// linear with autograd: outputs and the gradients of x, W and b, with and without a
// bias, from one row to many, on a strided x.
#include "model/linear.h"

#include <gtest/gtest.h>

namespace missrec::model {
namespace {

double max_relative(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

TEST(Linear, MatchesTorchLinearAndItsGradients) {
  torch::manual_seed(5);
  for (const int64_t rows : {1, 7, 300}) {
    for (const bool with_bias : {true, false}) {
      // x as a strided view of a wider tensor, as the model's tokens may be.
      const torch::Tensor x_data = torch::randn({rows, 2 * 48}).narrow(1, 0, 48);
      const torch::Tensor w_data = torch::randn({40, 48}) * 0.1;
      const torch::Tensor b_data = torch::randn({40});
      const torch::Tensor grad = torch::randn({rows, 40});
      std::vector<torch::Tensor> outputs, x_grads, w_grads, b_grads;
      for (int side = 0; side < 2; ++side) {
        torch::Tensor x = x_data.detach().requires_grad_(true);
        torch::Tensor w = w_data.detach().requires_grad_(true);
        torch::Tensor b = with_bias ? b_data.detach().requires_grad_(true) : torch::Tensor();
        const torch::Tensor y = side == 0 ? linear(x, w, b) : torch::nn::functional::linear(x, w, b);
        (y * grad).sum().backward();
        outputs.push_back(y.detach());
        x_grads.push_back(x.grad());
        w_grads.push_back(w.grad());
        b_grads.push_back(with_bias ? b.grad() : torch::zeros({1}));
      }
      const std::string where = std::to_string(rows) + " rows" + (with_bias ? ", bias" : "");
      EXPECT_LE(max_relative(outputs[0], outputs[1]), 1e-5) << where;
      EXPECT_LE(max_relative(x_grads[0], x_grads[1]), 1e-5) << "gradient of x, " << where;
      EXPECT_LE(max_relative(w_grads[0], w_grads[1]), 1e-5) << "gradient of W, " << where;
      EXPECT_LE(max_relative(b_grads[0], b_grads[1]), 1e-5) << "gradient of b, " << where;
    }
  }
}

TEST(Linear, InputsWithoutGradientsGetNone) {
  const torch::Tensor x = torch::randn({16, 8});
  torch::Tensor w = torch::randn({4, 8}).requires_grad_(true);
  linear(x, w, torch::Tensor()).sum().backward();
  EXPECT_TRUE(w.grad().defined());
  EXPECT_TRUE(torch::allclose(w.grad(), x.sum(0).unsqueeze(0).expand({4, 8})));
}

}  // namespace
}  // namespace missrec::model
