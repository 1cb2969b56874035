// model::linear (oneDNN's SGEMM on the CPU where the process has it) against torch's
// linear with autograd: outputs and the gradients of x, W and b, with and without a
// bias, from one row to many, on a strided x; linears() against one linear() per layer.
#include "model/linear.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "runtime/autocast_state.h"
#include "runtime/onednn_sgemm.h"

namespace missrec::model {
namespace {

// CPU bf16 autocast on (when `on`) for the scope's lifetime.
class Bf16Scope {
 public:
  explicit Bf16Scope(bool on) : on_(on) {
    if (!on_) return;
    runtime::set_autocast_dtype(at::kCPU, at::kBFloat16);
    runtime::set_autocast_enabled(at::kCPU, true);
  }
  ~Bf16Scope() {
    if (on_) runtime::set_autocast_enabled(at::kCPU, false);
  }
  Bf16Scope(const Bf16Scope&) = delete;
  Bf16Scope& operator=(const Bf16Scope&) = delete;

 private:
  bool on_;
};

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

// linears(): two or three layers on one input as one node, against one linear() each
// (fp32: the same products, the input's gradient accumulated by the GEMM instead of by
// autograd), and the same under bf16 autocast against linear() in bf16.
TEST(Linear, SharedInputLayersMatchOneLinearEach) {
  torch::manual_seed(6);
  for (const bool bf16 : {false, true}) {
    if (bf16 && !runtime::cpu_has_bf16_arithmetic()) continue;
    for (const size_t count : {size_t{2}, size_t{3}}) {
      const torch::Tensor x_data = torch::randn({300, 48});
      std::vector<std::pair<torch::Tensor, torch::Tensor>> layers;
      for (size_t j = 0; j < count; ++j) {
        layers.emplace_back((torch::randn({40, 48}) * 0.1).requires_grad_(true),
                            torch::randn({40}).requires_grad_(true));
      }
      const std::vector<torch::Tensor> grads = {torch::randn({300, 40}), torch::randn({300, 40}),
                                                torch::randn({300, 40})};
      std::vector<torch::Tensor> outputs[2], x_grads, w_grads[2];
      for (int side = 0; side < 2; ++side) {
        const Bf16Scope scope(bf16);
        torch::Tensor x = x_data.detach().requires_grad_(true);
        std::vector<torch::Tensor> ys;
        if (side == 0) {
          ys = linears(x, layers);
        } else {
          for (const auto& [w, b] : layers) ys.push_back(linear(x, w, b));
        }
        torch::Tensor loss = torch::zeros({});
        for (size_t j = 0; j < count; ++j) loss = loss + (ys[j] * grads[j]).sum();
        loss.backward();
        for (size_t j = 0; j < count; ++j) {
          outputs[side].push_back(ys[j].detach());
          w_grads[side].push_back(layers[j].first.grad().clone());
          layers[j].first.grad().zero_();
          layers[j].second.grad().zero_();
        }
        x_grads.push_back(x.grad());
      }
      const std::string where = std::to_string(count) + " layers" + (bf16 ? ", bf16" : "");
      for (size_t j = 0; j < count; ++j) {
        EXPECT_TRUE(torch::equal(outputs[0][j], outputs[1][j])) << "output " << j << ", " << where;
        EXPECT_TRUE(torch::equal(w_grads[0][j], w_grads[1][j])) << "gradient of W " << j << ", " << where;
      }
      EXPECT_LE(max_relative(x_grads[0], x_grads[1]), 1e-6) << "gradient of x, " << where;
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
