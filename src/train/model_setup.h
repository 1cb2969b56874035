#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "cluster/interest_refresh.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "model/model_config.h"
#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// The model shape and loss weights of a run configuration, with the feature widths of
// its data.
model::ModelConfig model_config_of(const runtime::Config& config, int64_t text_dim, int64_t image_dim,
                                   int64_t n_items = 0);

// A model of `config` with parameters initialised from `seed`, placed on `device`. The
// one way every command builds its model: ParameterSet, Adam and GradientSync built from
// it afterwards hold their state on the same device.
model::MissRec make_model(const model::ModelConfig& config, uint64_t seed, at::Device device);

// data.feature_dtype as a tensor dtype.
at::ScalarType feature_dtype_of(const runtime::DataConfig& data);

// The dataset's item feature tables on `device`, in data.feature_dtype.
model::ItemFeatures load_features(const data::Dataset& dataset, const runtime::Config& config, at::Device device);

// Seeds this rank's default generators (CPU and, when present, CUDA: dropout draws) from
// (seed, purpose, rank): different per rank, reproducible, checkpointed per rank.
void seed_rank_generators(uint64_t seed, uint64_t purpose, int rank);

// Creates the run directory on rank 0; InputError naming it when that fails.
void create_run_directory(const std::string& run_dir, const runtime::Communicator& comm);

// CPU copies of the model's parameters by their public-implementation names.
std::map<std::string, torch::Tensor> parameters_on_host(model::MissRecImpl& model);

// The loader settings of a run on `comm`: a split, a global batch, the model's
// max_seq_len, the augmentation and the seed.
data::LoaderOptions loader_options_of(const runtime::Config& config, const std::string& split, int64_t global_batch,
                                      const runtime::Communicator& comm);

// Copies named tensors into the model's parameters; InputError naming `source` and the
// parameter when one is missing, unexpected or of another shape.
void load_parameters(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& source, bool allow_missing = false);

}  // namespace missrec::train
