#pragma once

#include <torch/torch.h>

#include <tuple>

#include "model/packed_layout.h"

namespace missrec::model {

// Multi-head attention with torch.nn.MultiheadAttention's parameters and math
// Layout: in_proj_weight [3H, H] in q,k,v order, in_proj_bias [3H], out_proj.
class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t hidden, int64_t heads, double dropout);

  // query [B, T, H], key_value [B, S, H], key_padding [B, S] bool (true = ignore).
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key_value, const torch::Tensor& key_padding);

  // The same on packed tokens: query [Tq, H] laid out by `queries`, key_value [Tk, H] by
  // `keys` (the same samples and groups; its padding marks the keys to ignore). The
  // projections run once on all tokens; the attention per sample on the CPU kernel
  // (float32 CPU), else per group on padded blocks.
  torch::Tensor forward_packed(const torch::Tensor& query, const PackedLayout& queries, const torch::Tensor& key_value,
                               const PackedLayout& keys);

  torch::Tensor in_proj_weight;
  torch::Tensor in_proj_bias;
  torch::nn::Linear out_proj{nullptr};

 private:
  // q (scaled), k and v of the tokens, each [..., H].
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project(const torch::Tensor& query,
                                                                  const torch::Tensor& key_value);
  // Inside a bf16 autocast scope on the CPU, q, k and v rounded to bf16 for the CPU
  // kernel, whose products then take bf16 operands with float32 accumulation (autocast
  // does not reach the kernel; the tensor-op path gets bf16 from autocast itself).
  static std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> bf16_operands(
      std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> qkv);
  static bool runs_cpu_kernel(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& key_padding);
  int64_t hidden_;
  int64_t heads_;
  double dropout_;
};
TORCH_MODULE(MultiheadAttention);

}  // namespace missrec::model
