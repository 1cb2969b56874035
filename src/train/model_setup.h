#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "model/model_config.h"
#include "runtime/config.h"

namespace missrec::train {

// The model shape and loss weights of a run configuration, with the feature widths of
// its data (SPEC §3).
model::ModelConfig model_config_of(const runtime::Config& config, int64_t text_dim,
                                   int64_t image_dim, int64_t n_items = 0);

// Copies named tensors into the model's parameters; InputError naming `source` and the
// parameter when one is missing, unexpected or of another shape.
void load_parameters(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& source, bool allow_missing = false);

}  // namespace missrec::train
