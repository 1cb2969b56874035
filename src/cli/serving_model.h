#pragma once

#include <string>

#include "cli/args.h"
#include "data/dataset.h"
#include "model/missrec_model.h"
#include "train/export.h"

namespace missrec::cli {

// An exported model with the dataset it scores, on `device`: what evaluate, recommend
// and vectors start from. The export's interest tables come with it.
struct ServingModel {
  train::ModelExport exported;
  data::Dataset dataset;
  model::MissRec model{nullptr};
  model::ItemFeatures features;
};

// Reads the export at `model_path` (native or safetensors) and the dataset at `data_dir`;
// InputError naming the file or the dataset when they do not fit, or when `split` has no
// samples.
ServingModel load_serving_model(const std::string& model_path, const std::string& data_dir, const std::string& split,
                                const runtime::Config& config, at::Device device);

// --split must be train, valid or test.
void check_split_arg(const ParsedArgs& args);

}  // namespace missrec::cli
