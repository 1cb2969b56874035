#include "train/model_setup.h"

#include <sstream>

#include "runtime/error.h"

namespace missrec::train {

namespace {

std::string shape_text(const torch::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}

}  // namespace

model::ModelConfig model_config_of(const runtime::Config& config, int64_t text_dim,
                                   int64_t image_dim, int64_t n_items) {
  model::ModelConfig model;
  model.hidden_size = config.model.hidden_size;
  model.n_heads = config.model.n_heads;
  model.n_layers = config.model.n_layers;
  model.inner_size = config.model.inner_size;
  model.dropout = config.model.dropout;
  model.attn_dropout = config.model.attn_dropout;
  model.max_seq_len = config.model.max_seq_len;
  model.layer_norm_eps = config.model.layer_norm_eps;
  model.hidden_act = config.model.hidden_act;
  model.temperature = config.model.temperature;
  model.lambda = config.loss.lambda;
  model.gamma = config.loss.gamma;
  model.text_dim = text_dim;
  model.image_dim = image_dim;
  model.n_items = n_items;
  return model;
}

void load_parameters(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& source, bool allow_missing) {
  torch::NoGradGuard no_grad;
  const auto parameters = model.named_parameters();
  for (const auto& [name, tensor] : tensors) {
    if (parameters.find(name) == nullptr) {
      runtime::throw_input_error(source, "has parameter '" + name + "' that this model does not have");
    }
  }
  for (const auto& item : parameters) {
    const auto found = tensors.find(item.key());
    if (found == tensors.end()) {
      if (allow_missing) continue;
      runtime::throw_input_error(source, "lacks parameter '" + item.key() + "'");
    }
    if (found->second.sizes() != item.value().sizes()) {
      runtime::throw_input_error(source, "parameter '" + item.key() + "' has shape " +
                                             shape_text(found->second) + ", the model expects " +
                                             shape_text(item.value()) +
                                             " (is the model configuration the same?)");
    }
    item.value().copy_(found->second);
  }
}

}  // namespace missrec::train
