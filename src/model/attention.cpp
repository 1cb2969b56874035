#include "model/attention.h"

#include <cmath>

#include "model/attention_kernel.h"

namespace missrec::model {

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t hidden, int64_t heads, double dropout)
    : hidden_(hidden), heads_(heads), dropout_(dropout) {
  TORCH_CHECK(hidden % heads == 0, "hidden size ", hidden, " not divisible by ", heads, " heads");
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * hidden, hidden}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * hidden}));
  out_proj = register_module("out_proj", torch::nn::Linear(hidden, hidden));
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key_value,
                                              const torch::Tensor& key_padding) {
  const int64_t batch = query.size(0);
  const int64_t targets = query.size(1);
  const int64_t sources = key_value.size(1);
  const int64_t head_dim = hidden_ / heads_;
  const auto weights = in_proj_weight.chunk(3, 0);
  const auto biases = in_proj_bias.chunk(3, 0);
  auto split_heads = [&](const torch::Tensor& x, int64_t length) {
    return x.view({batch, length, heads_, head_dim}).transpose(1, 2);  // [B, heads, len, d]
  };
  // Like torch: q is scaled before the product.
  const torch::Tensor q = split_heads(torch::nn::functional::linear(query, weights[0], biases[0]), targets) *
                          (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const torch::Tensor k = split_heads(torch::nn::functional::linear(key_value, weights[1], biases[1]), sources);
  const torch::Tensor v = split_heads(torch::nn::functional::linear(key_value, weights[2], biases[2]), sources);
  // The CPU kernel for float32 CPU tensors; LibTorch operators elsewhere (GPUs, bf16).
  const bool cpu_kernel = q.is_cpu() && q.scalar_type() == torch::kFloat && k.scalar_type() == torch::kFloat &&
                          v.scalar_type() == torch::kFloat;
  const torch::Tensor heads_context =
      cpu_kernel ? attention_core(q, k, v, key_padding, dropout_, is_training())
                 : attention_core_reference(q, k, v, key_padding, torch::Tensor(), dropout_, is_training());
  const torch::Tensor context = heads_context.transpose(1, 2).reshape({batch, targets, hidden_});
  return out_proj(context);
}

}  // namespace missrec::model
