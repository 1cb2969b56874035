#include "model/attention.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <cmath>

#include "model/attention_kernel.h"
#include "model/kernel_choice.h"
#include "model/linear.h"
#include "runtime/autocast_state.h"

namespace missrec::model {

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t hidden, int64_t heads, double dropout)
    : hidden_(hidden), heads_(heads), dropout_(dropout) {
  TORCH_CHECK(hidden % heads == 0, "hidden size ", hidden, " not divisible by ", heads, " heads");
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * hidden, hidden}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * hidden}));
  out_proj = register_module("out_proj", torch::nn::Linear(hidden, hidden));
}

namespace {

// Float32 values rounded to bfloat16's precision (to nearest, ties to even, as a cast to
// bf16 rounds), kept in float32: one pass instead of a cast to bf16 and one back.
torch::Tensor round_to_bf16_values(const torch::Tensor& x) {
  const torch::Tensor in = x.contiguous();
  torch::Tensor out = torch::empty_like(in);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, in.numel(), int64_t{1} << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      dst[i] = c10::detail::f32_from_bits(c10::detail::round_to_nearest_even(src[i]));
    }
  });
  return out;
}

// The cast to bf16 and back as one autograd node: the gradient is rounded the same way,
// as the two casts' backward would round it.
class RoundToBf16 : public torch::autograd::Function<RoundToBf16> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* /*context*/, const torch::Tensor& x) {
    return round_to_bf16_values(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* /*context*/,
                                               torch::autograd::tensor_list grads) {
    return {round_to_bf16_values(grads[0])};
  }
};

}  // namespace

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key_value,
                                              const torch::Tensor& key_padding) {
  const int64_t batch = query.size(0);
  const int64_t targets = query.size(1);
  const int64_t sources = key_value.size(1);
  const int64_t head_dim = hidden_ / heads_;
  const auto [q, k, v] = bf16_operands(project(query, key_value));
  auto split_heads = [&](const torch::Tensor& x, int64_t length) {
    return x.view({batch, length, heads_, head_dim});  // [B, len, heads, d]
  };
  const torch::Tensor context =
      attend(split_heads(q, targets), split_heads(k, sources), split_heads(v, sources), key_padding)
          .reshape({batch, targets, hidden_});
  return out_proj(context);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> MultiheadAttentionImpl::project(
    const torch::Tensor& query, const torch::Tensor& key_value) {
  // Three products, not one of the concatenated weights split afterwards: the split's
  // backward concatenates the three gradients, a slow copy of the widest tensor.
  const auto weights = in_proj_weight.chunk(3, 0);
  const auto biases = in_proj_bias.chunk(3, 0);
  // Like torch: q is scaled before the product.
  const double scale = 1.0 / std::sqrt(static_cast<double>(hidden_ / heads_));
  if (query.is_same(key_value)) {
    const auto qkv = model::linears(query, {{weights[0], biases[0]}, {weights[1], biases[1]}, {weights[2], biases[2]}});
    return {qkv[0] * scale, qkv[1], qkv[2]};
  }
  const auto kv = model::linears(key_value, {{weights[1], biases[1]}, {weights[2], biases[2]}});
  return {model::linear(query, weights[0], biases[0]) * scale, kv[0], kv[1]};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> MultiheadAttentionImpl::bf16_operands(
    std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> qkv) {
  auto& [q, k, v] = qkv;
  if (!runs_cpu_kernel(q, k, v) || !runtime::bf16_autocast(at::kCPU)) return qkv;
  const auto rounded = [](const torch::Tensor& t) { return RoundToBf16::apply(t); };
  return {rounded(q), rounded(k), rounded(v)};
}

bool MultiheadAttentionImpl::runs_cpu_kernel(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  return q.is_cpu() && q.scalar_type() == torch::kFloat && k.scalar_type() == torch::kFloat &&
         v.scalar_type() == torch::kFloat && !TensorOpsOnly::active();
}

torch::Tensor MultiheadAttentionImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                             const torch::Tensor& key_padding) {
  // The CPU kernel for float32 CPU tensors; LibTorch operators elsewhere (GPUs, bf16).
  return runs_cpu_kernel(q, k, v)
             ? attention_core(q, k, v, key_padding, dropout_, is_training())
             : attention_core_reference(q, k, v, key_padding, torch::Tensor(), dropout_, is_training());
}

torch::Tensor MultiheadAttentionImpl::forward_packed(const torch::Tensor& query, const PackedLayout& queries,
                                                     const torch::Tensor& key_value, const PackedLayout& keys) {
  const int64_t head_dim = hidden_ / heads_;
  const auto [q, k, v] = bf16_operands(project(query, key_value));
  if (runs_cpu_kernel(q, k, v)) {
    AttentionSegments segments;
    segments.query_begin = queries.first_token;
    segments.query_length = queries.length;
    segments.key_begin = keys.first_token;
    segments.key_length = keys.length;
    const auto split_heads = [&](const torch::Tensor& tokens) {
      return tokens.view({tokens.size(0), heads_, head_dim});
    };
    const torch::Tensor context = attention_core_packed(split_heads(q), split_heads(k), split_heads(v), keys.padding,
                                                        segments, dropout_, is_training());
    return model::linear(context.view({query.size(0), hidden_}), out_proj);
  }
  const auto heads_of = [&](const torch::Tensor& tokens, const PackedLayout& layout) {
    std::vector<torch::Tensor> blocks = padded_blocks(tokens, layout);
    for (torch::Tensor& block : blocks) block = block.view({block.size(0), block.size(1), heads_, head_dim});
    return blocks;
  };
  const std::vector<torch::Tensor> q_blocks = heads_of(q, queries);
  const std::vector<torch::Tensor> k_blocks = heads_of(k, keys);
  const std::vector<torch::Tensor> v_blocks = heads_of(v, keys);
  std::vector<torch::Tensor> parts;
  for (size_t g = 0; g < queries.groups.size(); ++g) {
    const torch::Tensor context =
        attend(q_blocks[g], k_blocks[g], v_blocks[g], keys.group_padding[g]);  // [rows, width, heads, d]
    parts.push_back(tokens_of_block(context, queries.groups[g]));
  }
  return model::linear(torch::cat(parts), out_proj);
}

}  // namespace missrec::model
