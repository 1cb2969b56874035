#include "model/transformer.h"

#include "model/dropout.h"
#include "model/linear.h"

namespace missrec::model {

namespace {

torch::nn::LayerNorm layer_norm(const ModelConfig& config) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps));
}

torch::Tensor drop(const torch::Tensor& x, double p, bool training) { return model::dropout(x, p, training); }

torch::Tensor activate(const torch::Tensor& x, bool relu) {
  return relu ? torch::relu(x) : torch::gelu(x);  // gelu: the exact erf form
}

}  // namespace

EncoderLayerImpl::EncoderLayerImpl(const ModelConfig& config)
    : dropout_(config.dropout), relu_(config.hidden_act == runtime::Activation::kRelu) {
  self_attn = register_module("self_attn", MultiheadAttention(config.hidden_size, config.n_heads, config.attn_dropout));
  linear1 = register_module("linear1", torch::nn::Linear(config.hidden_size, config.inner_size));
  linear2 = register_module("linear2", torch::nn::Linear(config.inner_size, config.hidden_size));
  norm1 = register_module("norm1", layer_norm(config));
  norm2 = register_module("norm2", layer_norm(config));
}

torch::Tensor EncoderLayerImpl::feed_forward(const torch::Tensor& x) {
  return model::linear(drop(activate(model::linear(x, linear1), relu_), dropout_, is_training()), linear2);
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& padding) {
  torch::Tensor h = norm1(x + drop(self_attn(x, x, padding), dropout_, is_training()));
  return norm2(h + drop(feed_forward(h), dropout_, is_training()));
}

torch::Tensor EncoderLayerImpl::forward_packed(const torch::Tensor& x, const PackedLayout& layout) {
  torch::Tensor h = norm1(x + drop(self_attn->forward_packed(x, layout, x, layout), dropout_, is_training()));
  return norm2(h + drop(feed_forward(h), dropout_, is_training()));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& config)
    : dropout_(config.dropout), relu_(config.hidden_act == runtime::Activation::kRelu) {
  self_attn = register_module("self_attn", MultiheadAttention(config.hidden_size, config.n_heads, config.attn_dropout));
  multihead_attn =
      register_module("multihead_attn", MultiheadAttention(config.hidden_size, config.n_heads, config.attn_dropout));
  linear1 = register_module("linear1", torch::nn::Linear(config.hidden_size, config.inner_size));
  linear2 = register_module("linear2", torch::nn::Linear(config.inner_size, config.hidden_size));
  norm1 = register_module("norm1", layer_norm(config));
  norm2 = register_module("norm2", layer_norm(config));
  norm3 = register_module("norm3", layer_norm(config));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& padding,
                                        const torch::Tensor& memory, const torch::Tensor& memory_padding) {
  const bool training = is_training();
  torch::Tensor h = norm1(x + drop(self_attn(x, x, padding), dropout_, training));
  h = norm2(h + drop(multihead_attn(h, memory, memory_padding), dropout_, training));
  const torch::Tensor ff = model::linear(drop(activate(model::linear(h, linear1), relu_), dropout_, training), linear2);
  return norm3(h + drop(ff, dropout_, training));
}

torch::Tensor DecoderLayerImpl::forward_packed(const torch::Tensor& x, const PackedLayout& layout,
                                               const torch::Tensor& memory, const PackedLayout& memory_layout) {
  const bool training = is_training();
  torch::Tensor h = norm1(x + drop(self_attn->forward_packed(x, layout, x, layout), dropout_, training));
  h = norm2(h + drop(multihead_attn->forward_packed(h, layout, memory, memory_layout), dropout_, training));
  const torch::Tensor ff = model::linear(drop(activate(model::linear(h, linear1), relu_), dropout_, training), linear2);
  return norm3(h + drop(ff, dropout_, training));
}

TransformerImpl::TransformerImpl(const ModelConfig& config) {
  const int64_t per_stack = config.n_layers / 2;
  encoder_ = register_module("encoder", std::make_shared<Stack>());
  decoder_ = register_module("decoder", std::make_shared<Stack>());
  encoder_->layers = encoder_->register_module("layers", torch::nn::ModuleList());
  decoder_->layers = decoder_->register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < per_stack; ++l) {
    encoder_->layers->push_back(EncoderLayer(config));
    decoder_->layers->push_back(DecoderLayer(config));
  }
  encoder_->norm = encoder_->register_module("norm", layer_norm(config));
  decoder_->norm = decoder_->register_module("norm", layer_norm(config));
}

torch::Tensor TransformerImpl::encode(const torch::Tensor& x, const torch::Tensor& padding) {
  torch::Tensor h = x;
  for (const auto& layer : *encoder_->layers) h = layer->as<EncoderLayerImpl>()->forward(h, padding);
  return encoder_->norm(h);
}

torch::Tensor TransformerImpl::decode(const torch::Tensor& x, const torch::Tensor& padding, const torch::Tensor& memory,
                                      const torch::Tensor& memory_padding) {
  torch::Tensor h = x;
  for (const auto& layer : *decoder_->layers) {
    h = layer->as<DecoderLayerImpl>()->forward(h, padding, memory, memory_padding);
  }
  return decoder_->norm(h);
}

torch::Tensor TransformerImpl::encode_packed(const torch::Tensor& x, const PackedLayout& layout) {
  torch::Tensor h = x;
  for (const auto& layer : *encoder_->layers) h = layer->as<EncoderLayerImpl>()->forward_packed(h, layout);
  return encoder_->norm(h);
}

torch::Tensor TransformerImpl::decode_packed(const torch::Tensor& x, const PackedLayout& layout,
                                             const torch::Tensor& memory, const PackedLayout& memory_layout) {
  torch::Tensor h = x;
  for (const auto& layer : *decoder_->layers) {
    h = layer->as<DecoderLayerImpl>()->forward_packed(h, layout, memory, memory_layout);
  }
  return decoder_->norm(h);
}

}  // namespace missrec::model
