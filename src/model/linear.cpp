#include "model/linear.h"

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

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool one_dnn = x.dim() == 2 && x.is_cpu() && x.scalar_type() == torch::kFloat &&
                       weight.scalar_type() == torch::kFloat &&
                       (!bias.defined() || bias.scalar_type() == torch::kFloat) && runtime::has_onednn_sgemm();
  if (!one_dnn) return torch::nn::functional::linear(x, weight, bias);
  return OneDnnLinear::apply(x, weight, bias.defined() ? bias : torch::zeros({weight.size(0)}, weight.options()));
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

}  // namespace missrec::model
