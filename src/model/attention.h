#pragma once

#include <torch/torch.h>

namespace missrec::model {

// Multi-head attention with torch.nn.MultiheadAttention's parameters and math
// Layout: in_proj_weight [3H, H] in q,k,v order, in_proj_bias [3H], out_proj.
class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t hidden, int64_t heads, double dropout);

  // query [B, T, H], key_value [B, S, H], key_padding [B, S] bool (true = ignore).
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key_value, const torch::Tensor& key_padding);

  torch::Tensor in_proj_weight;
  torch::Tensor in_proj_bias;
  torch::nn::Linear out_proj{nullptr};

 private:
  int64_t hidden_;
  int64_t heads_;
  double dropout_;
};
TORCH_MODULE(MultiheadAttention);

}  // namespace missrec::model
