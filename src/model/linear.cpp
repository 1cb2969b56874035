#include "model/linear.h"

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

// y = x W^T + b with its products' operands (x, W and the output gradient) in
// `Operands` (float32 or bf16) and everything else, y and the gradients included, in
// float32.
template <torch::ScalarType Operands>
class OneDnnLinear : public torch::autograd::Function<OneDnnLinear<Operands>> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& weight_in,
                               const torch::Tensor& bias) {
    const torch::Tensor x = x_in.to(Operands).contiguous();
    const torch::Tensor weight = weight_in.to(Operands).contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
    // y starts as the bias rows (a copy: a [1, out] view of the bias is already contiguous).
    torch::Tensor y = torch::empty({rows, out}, x_in.options().dtype(torch::kFloat));
    y.copy_(bias.view({1, out}).expand({rows, out}));
    gemm(false, true, rows, out, in, x, in, weight, in, 1.0f, y, out);
    ctx->save_for_backward({x, weight});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor grad_y = grads[0].to(Operands).contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
    const auto fp32 = x.options().dtype(torch::kFloat);
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_x = torch::empty({rows, in}, fp32);
      gemm(false, false, rows, in, out, grad_y, out, weight, in, 0.0f, grad_x, in);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = torch::empty({out, in}, fp32);
      gemm(true, false, out, in, rows, grad_y, out, x, in, 0.0f, grad_weight, in);
    }
    if (ctx->needs_input_grad(2)) grad_bias = grads[0].contiguous().sum(0);
    return {grad_x, grad_weight, grad_bias};
  }
};

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool cpu_float = x.dim() == 2 && x.is_cpu() && x.scalar_type() == torch::kFloat &&
                         weight.scalar_type() == torch::kFloat &&
                         (!bias.defined() || bias.scalar_type() == torch::kFloat) && !TensorOpsOnly::active();
  // Inside bf16 autocast without the bf16 GEMM, LibTorch's linear, which autocast runs in bf16.
  const bool bf16 = runtime::bf16_autocast(at::kCPU);
  if (!cpu_float || !(bf16 ? runtime::has_onednn_bf16_gemm() : runtime::has_onednn_sgemm())) {
    return torch::nn::functional::linear(x, weight, bias);
  }
  const torch::Tensor full_bias = bias.defined() ? bias : torch::zeros({weight.size(0)}, weight.options());
  return bf16 ? OneDnnLinear<torch::kBFloat16>::apply(x, weight, full_bias)
              : OneDnnLinear<torch::kFloat>::apply(x, weight, full_bias);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace missrec::model
