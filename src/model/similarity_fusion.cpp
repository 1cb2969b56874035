#include "model/similarity_fusion.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "model/kernel_choice.h"
#include "runtime/vector_clones.h"

namespace missrec::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Elements per block of the factor's gradient sum (fixed, so the sum's order is too).
constexpr int64_t kBlock = 1 << 16;

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

MISSREC_VECTOR_CLONES void fuse_forward(const float* __restrict a, const float* __restrict c, float factor,
                                        int64_t count, float* __restrict out) {
  for (int64_t i = 0; i < count; ++i) {
    const float difference = a[i] - c[i];
    out[i] = c[i] + sigmoid(factor * difference) * difference;
  }
}

// d out/d a = s + f·d·s(1 − s), d out/d c = 1 − d out/d a, d out/d f = d²·s(1 − s).
// Returns this block's sum of grad · d out/d f.
MISSREC_VECTOR_CLONES double fuse_backward(const float* __restrict a, const float* __restrict c,
                                           const float* __restrict grad, float factor, int64_t count,
                                           float* __restrict grad_a, float* __restrict grad_c) {
  double factor_sum = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const float difference = a[i] - c[i];
    const float s = sigmoid(factor * difference);
    const float slope = s * (1.0f - s);
    const float wrt_a = grad[i] * (s + factor * difference * slope);
    grad_a[i] = wrt_a;
    grad_c[i] = grad[i] - wrt_a;
    factor_sum += static_cast<double>(grad[i] * difference * difference * slope);
  }
  return factor_sum;
}

class FusedSimilarities : public torch::autograd::Function<FusedSimilarities> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& a_in, const torch::Tensor& c_in,
                               const torch::Tensor& factor) {
    const torch::Tensor a = a_in.contiguous();
    const torch::Tensor c = c_in.contiguous();
    const float f = factor.item<float>();
    torch::Tensor out = torch::empty_like(a);
    const float* ap = a.data_ptr<float>();
    const float* cp = c.data_ptr<float>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, a.numel(), kBlock, [&](int64_t begin, int64_t end) {
      fuse_forward(ap + begin, cp + begin, f, end - begin, op + begin);
    });
    ctx->save_for_backward({a, c, factor});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& a = saved[0];
    const torch::Tensor& c = saved[1];
    const torch::Tensor& factor = saved[2];
    const torch::Tensor grad = grads[0].contiguous();
    const float f = factor.item<float>();
    torch::Tensor grad_a = torch::empty_like(a);
    torch::Tensor grad_c = torch::empty_like(c);
    const int64_t count = a.numel();
    const int64_t blocks = (count + kBlock - 1) / kBlock;
    std::vector<double> block_sums(static_cast<size_t>(blocks), 0.0);
    const float* ap = a.data_ptr<float>();
    const float* cp = c.data_ptr<float>();
    const float* gp = grad.data_ptr<float>();
    float* gap = grad_a.data_ptr<float>();
    float* gcp = grad_c.data_ptr<float>();
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      for (int64_t block = first; block < last; ++block) {
        const int64_t begin = block * kBlock;
        const int64_t size = std::min(kBlock, count - begin);
        block_sums[static_cast<size_t>(block)] =
            fuse_backward(ap + begin, cp + begin, gp + begin, f, size, gap + begin, gcp + begin);
      }
    });
    double factor_grad = 0.0;
    for (const double sum : block_sums) factor_grad += sum;
    return {grad_a, grad_c, torch::tensor(factor_grad, factor.options())};
  }
};

}  // namespace

torch::Tensor fuse_similarities(const torch::Tensor& a, const torch::Tensor& c, const torch::Tensor& factor) {
  const bool cpu_kernel = a.is_cpu() && a.scalar_type() == torch::kFloat && c.scalar_type() == torch::kFloat &&
                          factor.scalar_type() == torch::kFloat && a.sizes() == c.sizes() && !TensorOpsOnly::active();
  if (cpu_kernel) return FusedSimilarities::apply(a, c, factor);
  const torch::Tensor difference = a - c;
  return c + torch::sigmoid(difference * factor) * difference;
}

}  // namespace missrec::model
