#include "model/linear.h"

#include <glog/logging.h>

#include <array>

#include "model/kernel_choice.h"
#include "runtime/autocast_state.h"
#include "runtime/onednn_sgemm.h"

namespace missrec::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// C [m, n] = op(A) op(B) + beta C in float32, A and B both float32 (oneDNN's SGEMM) or
// both bf16 (its bf16 GEMM with float32 accumulation).
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const torch::Tensor& a, int64_t lda,
          const torch::Tensor& b, int64_t ldb, float beta, torch::Tensor& c, int64_t ldc) {
  if (a.scalar_type() == torch::kBFloat16) {
    const auto bits = [](const torch::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data_ptr()); };
    runtime::onednn_gemm_bf16(transpose_a, transpose_b, m, n, k, 1.0f, bits(a), lda, bits(b), ldb, beta,
                              c.data_ptr<float>(), ldc);
  } else {
    runtime::onednn_sgemm(transpose_a, transpose_b, m, n, k, 1.0f, a.data_ptr<float>(), lda, b.data_ptr<float>(), ldb,
                          beta, c.data_ptr<float>(), ldc);
  }
}

// y = x W^T + b in float32 for operands x [rows, in] and W [out, in] of one dtype.
torch::Tensor affine(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
  // y starts as the bias rows (a copy: a [1, out] view of the bias is already contiguous).
  torch::Tensor y = torch::empty({rows, out}, x.options().dtype(torch::kFloat));
  y.copy_(bias.view({1, out}).expand({rows, out}));
  gemm(false, true, rows, out, in, x, in, weight, in, 1.0f, y, out);
  return y;
}

// y_j = x W_j^T + b_j for `count` (1 to 3) layers on one input (the W_j and b_j past
// count: unused placeholders, as an autograd function takes no undefined inputs here),
// with the products' operands (x, the W_j and the output gradients) in `Operands`
// (float32 or bf16) and everything else, the y_j and the gradients included, in float32.
// x is converted once, and its gradient is accumulated in one buffer by the GEMMs
// (beta 1) instead of summed by autograd.
template <torch::ScalarType Operands>
class SharedInputLinear : public torch::autograd::Function<SharedInputLinear<Operands>> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& w0,
                               const torch::Tensor& b0, const torch::Tensor& w1, const torch::Tensor& b1,
                               const torch::Tensor& w2, const torch::Tensor& b2, int64_t count) {
    const torch::Tensor x = x_in.to(Operands).contiguous();
    variable_list saved = {x};
    variable_list ys;
    const std::array<std::pair<torch::Tensor, torch::Tensor>, 3> layers = {{{w0, b0}, {w1, b1}, {w2, b2}}};
    for (int64_t j = 0; j < count; ++j) {
      saved.push_back(layers[j].first.to(Operands).contiguous());
      ys.push_back(affine(x, saved.back(), layers[j].second));
    }
    ctx->save_for_backward(saved);
    return ys;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const int64_t rows = x.size(0), in = x.size(1);
    const auto fp32 = x.options().dtype(torch::kFloat);
    variable_list out(8);
    float beta = 0.0f;
    for (size_t j = 0; j + 1 < saved.size(); ++j) {
      if (!grads[j].defined()) continue;
      const torch::Tensor& weight = saved[j + 1];
      const int64_t width = weight.size(0);
      const torch::Tensor grad_y = grads[j].to(Operands).contiguous();
      if (ctx->needs_input_grad(0)) {
        if (!out[0].defined()) out[0] = torch::empty({rows, in}, fp32);
        gemm(false, false, rows, in, width, grad_y, width, weight, in, beta, out[0], in);
        beta = 1.0f;
      }
      if (ctx->needs_input_grad(1 + 2 * j)) {
        out[1 + 2 * j] = torch::empty({width, in}, fp32);
        gemm(true, false, width, in, rows, grad_y, width, x, in, 0.0f, out[1 + 2 * j], in);
      }
      if (ctx->needs_input_grad(2 + 2 * j)) out[2 + 2 * j] = grads[j].contiguous().sum(0);
    }
    return out;
  }
};

// Whether linear() runs SharedInputLinear (oneDNN) for these tensors, and in which precision.
struct KernelChoice {
  bool one_dnn = false;
  bool bf16 = false;
};

KernelChoice kernel_for(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool cpu_float = x.dim() == 2 && x.is_cpu() && x.scalar_type() == torch::kFloat &&
                         weight.scalar_type() == torch::kFloat &&
                         (!bias.defined() || bias.scalar_type() == torch::kFloat) && !TensorOpsOnly::active();
  // Inside bf16 autocast without the bf16 GEMM, LibTorch's linear, which autocast runs in bf16.
  const bool bf16 = runtime::bf16_autocast(at::kCPU);
  return {cpu_float && (bf16 ? runtime::has_onednn_bf16_gemm() : runtime::has_onednn_sgemm()), bf16};
}

torch::Tensor bias_or_zeros(const torch::Tensor& bias, const torch::Tensor& weight) {
  return bias.defined() ? bias : torch::zeros({weight.size(0)}, weight.options());
}

// SharedInputLinear for 1 to 3 layers, in the precision autocast asks for.
std::vector<torch::Tensor> shared_input_linear(const torch::Tensor& x,
                                               const std::vector<std::pair<torch::Tensor, torch::Tensor>>& layers) {
  const torch::Tensor unused = torch::empty({0}, x.options());
  const auto weight = [&](size_t j) { return j < layers.size() ? layers[j].first : unused; };
  const auto bias = [&](size_t j) {
    return j < layers.size() ? bias_or_zeros(layers[j].second, layers[j].first) : unused;
  };
  const auto count = static_cast<int64_t>(layers.size());
  return runtime::bf16_autocast(at::kCPU) ? SharedInputLinear<torch::kBFloat16>::apply(
                                                x, weight(0), bias(0), weight(1), bias(1), weight(2), bias(2), count)
                                          : SharedInputLinear<torch::kFloat>::apply(x, weight(0), bias(0), weight(1),
                                                                                    bias(1), weight(2), bias(2), count);
}

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!kernel_for(x, weight, bias).one_dnn) return torch::nn::functional::linear(x, weight, bias);
  return shared_input_linear(x, {{weight, bias}})[0];
}

std::vector<torch::Tensor> linears(const torch::Tensor& x,
                                   const std::vector<std::pair<torch::Tensor, torch::Tensor>>& layers) {
  CHECK(layers.size() == 2 || layers.size() == 3) << "linears takes two or three layers, not " << layers.size();
  bool one_dnn = true;
  for (const auto& [weight, bias] : layers) one_dnn = one_dnn && kernel_for(x, weight, bias).one_dnn;
  if (!one_dnn) {
    std::vector<torch::Tensor> ys;
    for (const auto& [weight, bias] : layers) ys.push_back(linear(x, weight, bias));
    return ys;
  }
  return shared_input_linear(x, layers);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace missrec::model
