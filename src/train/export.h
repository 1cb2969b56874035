#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "data/dataset.h"
#include "data/interest_state.h"
#include "model/missrec_model.h"
#include "runtime/config.h"

namespace missrec::train {

// A trained model outside the training run: parameters by public-implementation name, the interest
// tables of its last refresh and the configuration it was trained with.
struct ModelExport {
  runtime::Config config;
  std::map<std::string, torch::Tensor> parameters;
  data::InterestState interests;  // on the host
  int64_t epoch = 0;              // epochs completed
  int64_t global_step = 0;
};

// The model as it is now, with the interests it was trained with (tables on the host).
ModelExport current_export(model::MissRecImpl& model, const runtime::Config& config,
                           const data::InterestState& interests, int64_t epoch, int64_t global_step);

// Reads a verified checkpoint directory into an export.
ModelExport export_from_checkpoint(const std::string& checkpoint_dir);

// PyTorch: torch.save-compatible {"state_dict": {name: tensor}, "epoch": int,
// "config": {...}, "interests": {...}}. Written through a temporary file and renamed.
void write_pytorch_export(const ModelExport& model, const std::string& path);

// The native format `missrec finetune` and `missrec encode` read: HDF5 with /model/<name>,
// /interests/*, and the configuration as YAML text.
void write_native_export(const ModelExport& model, const std::string& path);
ModelExport read_native_export(const std::string& path);

// A native export or a safetensors export (told apart by the file's first bytes).
ModelExport read_model_export(const std::string& path);

// A configuration from YAML text (of a checkpoint or an export); InputError naming `where`.
runtime::Config config_from_yaml_text(const std::string& yaml_text, const std::string& where);

// The exported model, on `device`, for scoring `dataset` (a dataset of the items it was
// trained on): its parameters, and item ID embeddings when it has them (transductive).
// InputError naming `path` when the export's interest tables or item ID embeddings do
// not cover the dataset's items.
model::MissRec model_of_export(const ModelExport& exported, const std::string& path, const data::Dataset& dataset,
                               at::Device device);

}  // namespace missrec::train
