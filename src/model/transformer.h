#pragma once

#include <torch/torch.h>

#include "model/attention.h"
#include "model/model_config.h"

namespace missrec::model {

// Post-norm layers as torch.nn.TransformerEncoderLayer / DecoderLayer with
// batch_first=True, norm_first=False; parameter names follow torch.
class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding);
  // On packed tokens [T, H] laid out (and padded) by `layout`.
  torch::Tensor forward_packed(const torch::Tensor& x, const PackedLayout& layout);

  MultiheadAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};

 private:
  torch::Tensor feed_forward(const torch::Tensor& x);
  double dropout_;
  bool relu_;
};
TORCH_MODULE(EncoderLayer);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding, const torch::Tensor& memory,
                        const torch::Tensor& memory_padding);
  torch::Tensor forward_packed(const torch::Tensor& x, const PackedLayout& layout, const torch::Tensor& memory,
                               const PackedLayout& memory_layout);

  MultiheadAttention self_attn{nullptr}, multihead_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};

 private:
  double dropout_;
  bool relu_;
};
TORCH_MODULE(DecoderLayer);

// encoder.layers.{l}, encoder.norm, decoder.layers.{l}, decoder.norm.
class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& config);
  torch::Tensor encode(const torch::Tensor& x, const torch::Tensor& padding);
  torch::Tensor decode(const torch::Tensor& x, const torch::Tensor& padding, const torch::Tensor& memory,
                       const torch::Tensor& memory_padding);
  // The same on packed tokens (see PackedLayout): the encoder's and the decoder's layouts
  // group the same samples.
  torch::Tensor encode_packed(const torch::Tensor& x, const PackedLayout& layout);
  torch::Tensor decode_packed(const torch::Tensor& x, const PackedLayout& layout, const torch::Tensor& memory,
                              const PackedLayout& memory_layout);

 private:
  struct Stack : torch::nn::Module {
    torch::nn::ModuleList layers;
    torch::nn::LayerNorm norm{nullptr};
  };
  std::shared_ptr<Stack> encoder_;
  std::shared_ptr<Stack> decoder_;
};
TORCH_MODULE(Transformer);

}  // namespace missrec::model
