#include "train/model_setup.h"

#include <filesystem>
#include <sstream>

#include "data/feature_table.h"
#include "data/keyed_random.h"
#include "runtime/comm.h"
#include "runtime/error.h"

namespace missrec::train {

namespace {

std::string shape_text(const torch::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}

}  // namespace

model::ModelConfig model_config_of(const runtime::Config& config, int64_t text_dim, int64_t image_dim,
                                   int64_t n_items) {
  model::ModelConfig model;
  static_cast<runtime::ModelConfig&>(model) = config.model;
  static_cast<runtime::LossConfig&>(model) = config.loss;
  model.text_dim = text_dim;
  model.image_dim = image_dim;
  model.n_items = n_items;
  return model;
}

model::MissRec make_model(const model::ModelConfig& config, uint64_t seed, at::Device device) {
  model::MissRec model(config);
  model->reset_parameters(seed);
  model->to(device);
  return model;
}

at::ScalarType feature_dtype_of(const runtime::DataConfig& data) {
  switch (data.feature_dtype) {
    case runtime::FeatureDtype::kFloat16:
      return at::kHalf;
    case runtime::FeatureDtype::kBfloat16:
      return at::kBFloat16;
    case runtime::FeatureDtype::kFloat32:
      break;
  }
  return at::kFloat;
}

model::ItemFeatures load_features(const data::Dataset& dataset, const runtime::Config& config, at::Device device) {
  const data::FeatureTables tables = data::load_feature_tables(dataset, device, feature_dtype_of(config.data));
  model::ItemFeatures features;
  features.text = tables.text;
  features.image = tables.image;
  features.text_aug = tables.text_aug;
  return features;
}

void seed_rank_generators(uint64_t seed, uint64_t purpose, int rank) {
  // torch::manual_seed seeds the CPU generator and every CUDA device's.
  torch::manual_seed(data::keyed_hash(seed, purpose, static_cast<uint64_t>(rank)) >> 1);
}

data::LoaderOptions loader_options_of(const runtime::Config& config, const std::string& split, int64_t global_batch,
                                      const runtime::Communicator& comm) {
  data::LoaderOptions options;
  options.split = split;
  options.global_batch = global_batch;
  options.rank = comm.rank();
  options.world_size = comm.size();
  options.prefetch = config.data.prefetch_batches;
  options.pin_memory = comm.device().is_cuda();
  options.batch.max_seq_len = config.model.max_seq_len;
  options.batch.item_drop_prob = config.augment.item_drop_prob;
  options.batch.item_drop_ratio = config.augment.item_drop_ratio;
  options.batch.seed = static_cast<uint64_t>(config.run.seed);
  return options;
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
      runtime::throw_input_error(source, "parameter '" + item.key() + "' has shape " + shape_text(found->second) +
                                             ", the model expects " + shape_text(item.value()) +
                                             " (is the model configuration the same?)");
    }
    item.value().copy_(found->second);
  }
}

void create_run_directory(const std::string& run_dir, const runtime::Communicator& comm) {
  if (comm.rank() != 0) return;
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) runtime::throw_input_error(run_dir, "cannot create the run directory: " + error.message());
}

std::map<std::string, torch::Tensor> parameters_on_host(model::MissRecImpl& model) {
  std::map<std::string, torch::Tensor> host;
  for (const auto& [name, tensor] : model.named_tensors()) host[name] = tensor.detach().to(at::kCPU).clone();
  return host;
}

}  // namespace missrec::train
