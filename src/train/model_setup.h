#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "cluster/interest_refresh.h"
#include "data/loader.h"
#include "model/model_config.h"
#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// The model shape and loss weights of a run configuration, with the feature widths of
// its data (SPEC §3).
model::ModelConfig model_config_of(const runtime::Config& config, int64_t text_dim,
                                   int64_t image_dim, int64_t n_items = 0);

// The refresh settings of the cluster section (SPEC §4.1).
cluster::RefreshOptions refresh_options_of(const runtime::Config& config);

// The loader settings of a run on `comm`: a split, a global batch, the model's
// max_seq_len, the augmentation and the seed.
data::LoaderOptions loader_options_of(const runtime::Config& config, const std::string& split,
                                      int64_t global_batch, const runtime::Communicator& comm);

// Copies named tensors into the model's parameters; InputError naming `source` and the
// parameter when one is missing, unexpected or of another shape.
void load_parameters(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& source, bool allow_missing = false);

}  // namespace missrec::train
