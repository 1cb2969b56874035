#include "model/linear.h"

#include "model/kernel_choice.h"
#include "runtime/autocast_state.h"
#include "runtime/onednn_sgemm.h"

namespace missrec::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class OneDnnLinear : public torch::autograd::Function<OneDnnLinear> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& weight_in,
                               const torch::Tensor& bias) {
    const torch::Tensor x = x_in.contiguous();
    const torch::Tensor weight = weight_in.contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
    // y starts as the bias rows (a copy: a [1, out] view of the bias is already contiguous).
    torch::Tensor y = torch::empty({rows, out}, x.options());
    y.copy_(bias.view({1, out}).expand({rows, out}));
    runtime::onednn_sgemm(false, true, rows, out, in, 1.0f, x.data_ptr<float>(), in, weight.data_ptr<float>(), in, 1.0f,
                          y.data_ptr<float>(), out);
    ctx->save_for_backward({x, weight});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor grad_y = grads[0].contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_x = torch::empty_like(x);
      runtime::onednn_sgemm(false, false, rows, in, out, 1.0f, grad_y.data_ptr<float>(), out, weight.data_ptr<float>(),
                            in, 0.0f, grad_x.data_ptr<float>(), in);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = torch::empty_like(weight);
      runtime::onednn_sgemm(true, false, out, in, rows, 1.0f, grad_y.data_ptr<float>(), out, x.data_ptr<float>(), in,
                            0.0f, grad_weight.data_ptr<float>(), in);
    }
    if (ctx->needs_input_grad(2)) grad_bias = grad_y.sum(0);
    return {grad_x, grad_weight, grad_bias};
  }
};

const uint16_t* bf16_data(const torch::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data_ptr()); }

// The same product in bf16 with float32 accumulation (oneDNN's bf16 GEMM): x and the
// weight rounded to bf16, y, the gradients and the bias in float32; the backward's
// products take the output gradient in bf16 too.
class OneDnnLinearBf16 : public torch::autograd::Function<OneDnnLinearBf16> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& weight_in,
                               const torch::Tensor& bias) {
    const torch::Tensor x = x_in.to(torch::kBFloat16).contiguous();
    const torch::Tensor weight = weight_in.to(torch::kBFloat16).contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
    torch::Tensor y = torch::empty({rows, out}, x_in.options().dtype(torch::kFloat));
    y.copy_(bias.view({1, out}).expand({rows, out}));
    runtime::onednn_gemm_bf16(false, true, rows, out, in, 1.0f, bf16_data(x), in, bf16_data(weight), in, 1.0f,
                              y.data_ptr<float>(), out);
    ctx->save_for_backward({x, weight});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor grad_y = grads[0].to(torch::kBFloat16).contiguous();
    const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
    const auto fp32 = x.options().dtype(torch::kFloat);
    torch::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_x = torch::empty({rows, in}, fp32);
      runtime::onednn_gemm_bf16(false, false, rows, in, out, 1.0f, bf16_data(grad_y), out, bf16_data(weight), in, 0.0f,
                                grad_x.data_ptr<float>(), in);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = torch::empty({out, in}, fp32);
      runtime::onednn_gemm_bf16(true, false, out, in, rows, 1.0f, bf16_data(grad_y), out, bf16_data(x), in, 0.0f,
                                grad_weight.data_ptr<float>(), in);
    }
    if (ctx->needs_input_grad(2)) grad_bias = grads[0].sum(0);
    return {grad_x, grad_weight, grad_bias};
  }
};

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool cpu_float = x.dim() == 2 && x.is_cpu() && x.scalar_type() == torch::kFloat &&
                         weight.scalar_type() == torch::kFloat &&
                         (!bias.defined() || bias.scalar_type() == torch::kFloat) && !TensorOpsOnly::active();
  if (cpu_float && runtime::bf16_autocast(at::kCPU)) {
    // Without the bf16 GEMM, LibTorch's linear, which autocast runs in bf16.
    if (!runtime::has_onednn_bf16_gemm()) return torch::nn::functional::linear(x, weight, bias);
    return OneDnnLinearBf16::apply(x, weight, bias.defined() ? bias : torch::zeros({weight.size(0)}, weight.options()));
  }
  if (!cpu_float || !runtime::has_onednn_sgemm()) return torch::nn::functional::linear(x, weight, bias);
  return OneDnnLinear::apply(x, weight, bias.defined() ? bias : torch::zeros({weight.size(0)}, weight.options()));
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace missrec::model
