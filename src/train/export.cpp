#include "train/export.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/h5_file.h"
#include "runtime/config_yaml.h"
#include "runtime/error.h"
#include "runtime/file_io.h"
#include "train/checkpoint.h"
#include "train/model_setup.h"
#include "train/safetensors_export.h"

namespace missrec::train {

namespace {

// torch.save's zip format, as torch::pickle_save writes it, but without the type tags
// TorchScript attaches to dicts and lists (torch.jit._pickle.restore_type_tag): the
// safe unpickler of torch.load(weights_only=True), the default since PyTorch 2.6,
// refuses them.
std::vector<char> pickle_for_torch_load(const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t size) { pickle.insert(pickle.end(), bytes, bytes + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    archive.insert(archive.end(), bytes, bytes + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return archive;
}

constexpr const char* kNativeFormat = "missrec-export";
constexpr int64_t kNativeVersion = 1;

}  // namespace

runtime::Config config_from_yaml_text(const std::string& yaml_text, const std::string& where) {
  runtime::Config config;
  runtime::ConfigOrigins origins;
  runtime::apply_yaml_text(config, yaml_text, where, &origins);
  return config;
}

ModelExport export_from_checkpoint(const std::string& checkpoint_dir) {
  const TrainingState state = read_checkpoint(checkpoint_dir);
  ModelExport model;
  model.config = config_from_yaml_text(state.config_yaml, checkpoint_dir + "/config.yaml");
  model.parameters = state.model;
  model.interests = state.interests;
  model.epoch = state.epoch;
  model.global_step = state.global_step;
  return model;
}

void write_pytorch_export(const ModelExport& model, const std::string& path) {
  c10::Dict<std::string, at::Tensor> state_dict;
  for (const auto& [name, tensor] : model.parameters) state_dict.insert(name, tensor.to(at::kCPU).contiguous().clone());
  const runtime::Config& c = model.config;
  c10::impl::GenericDict config(c10::StringType::get(), c10::AnyType::get());
  const at::Tensor& text_weight = model.parameters.at("text_adaptor.weight");
  const at::Tensor& image_weight = model.parameters.at("img_adaptor.weight");
  config.insert("hidden_size", c.model.hidden_size);
  config.insert("n_heads", c.model.n_heads);
  config.insert("n_layers", c.model.n_layers);
  config.insert("inner_size", c.model.inner_size);
  config.insert("layer_norm_eps", c.model.layer_norm_eps);
  config.insert("hidden_act", runtime::name_of(c.model.hidden_act));
  config.insert("hidden_dropout_prob", c.model.dropout);
  config.insert("attn_dropout_prob", c.model.attn_dropout);
  config.insert("temperature", c.model.temperature);
  config.insert("max_seq_len", c.model.max_seq_len);
  config.insert("lambda", c.loss.lambda);
  config.insert("gamma", c.loss.gamma);
  config.insert("text_dim", text_weight.size(1));
  config.insert("image_dim", image_weight.size(1));
  config.insert("dataset", c.data.dir);
  config.insert("seed", c.run.seed);
  config.insert("global_step", model.global_step);
  c10::Dict<std::string, at::Tensor> interests;
  if (model.interests.defined()) {
    interests.insert("interest_embeddings", model.interests.interest_embeddings.to(at::kCPU).contiguous().clone());
    interests.insert("text_interest", model.interests.text_interest.to(at::kCPU).contiguous().clone());
    interests.insert("image_interest", model.interests.image_interest.to(at::kCPU).contiguous().clone());
  }
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("state_dict", state_dict);
  root.insert("epoch", model.epoch);
  root.insert("config", config);
  root.insert("interests", interests);
  const std::vector<char> bytes = pickle_for_torch_load(c10::IValue(root));
  runtime::write_staged(path, [&](const std::string& staging) {
    std::ofstream out(staging, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) runtime::throw_output_error(path, "write failed (disk full or not writable)");
  });
}

void write_native_export(const ModelExport& model, const std::string& path) {
  runtime::write_staged(path, [&](const std::string& staging) {
    data::H5File file = data::H5File::create(staging);
    for (const auto& [name, tensor] : model.parameters) file.write_tensor("/model/" + name, tensor);
    data::write_interests(file, "/interests", model.interests);
    file.set_string_attribute("/", "format", kNativeFormat);
    file.set_int_attribute("/", "format_version", kNativeVersion);
    file.set_int_attribute("/", "epoch", model.epoch);
    file.set_int_attribute("/", "global_step", model.global_step);
    file.set_string_attribute("/", "config", runtime::to_yaml(model.config));
    file.flush();
  });
}

ModelExport read_native_export(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) runtime::throw_input_error(path, "no such file");
  const data::H5File file = data::H5File::open_read(path);
  if (!file.has_attribute("/", "format") || file.attribute<std::string>("/", "format") != kNativeFormat) {
    runtime::throw_input_error(path,
                               "not a missrec native export (attribute format != missrec-export); "
                               "write one with `missrec export --format native`");
  }
  if (file.attribute<int64_t>("/", "format_version") != kNativeVersion) {
    runtime::throw_input_error(path, "unsupported format_version (expected 1)");
  }
  ModelExport model;
  model.config = config_from_yaml_text(file.attribute<std::string>("/", "config"), path + ": attribute config");
  for (const std::string& name : file.list("/model")) model.parameters[name] = file.read_tensor("/model/" + name);
  model.interests = data::read_interests(file, "/interests");
  model.epoch = file.attribute<int64_t>("/", "epoch");
  model.global_step = file.attribute<int64_t>("/", "global_step");
  return model;
}

ModelExport read_model_export(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) runtime::throw_input_error(path, "no such file");
  char signature[8] = {};
  std::ifstream(path, std::ios::binary).read(signature, sizeof signature);
  // HDF5's signature: a native export; anything else is read as safetensors.
  if (std::memcmp(signature, "\x89HDF\r\n\x1a\n", 8) == 0) return read_native_export(path);
  return read_safetensors_export(path);
}

ModelExport current_export(model::MissRecImpl& model, const runtime::Config& config,
                           const data::InterestState& interests, int64_t epoch, int64_t global_step) {
  ModelExport exported;
  exported.config = config;
  exported.parameters = parameters_on_host(model);
  exported.interests = interests.placed(at::kCPU);
  exported.epoch = epoch;
  exported.global_step = global_step;
  return exported;
}

model::MissRec model_of_export(const ModelExport& exported, const std::string& path, const data::Dataset& dataset,
                               at::Device device) {
  const int64_t items = dataset.total_items();
  if (!exported.interests.defined() || exported.interests.text_interest.numel() != items + 1) {
    runtime::throw_input_error(path, "has no interest tables for the " + std::to_string(items) + " items of " +
                                         dataset.dir() + " (use a model trained or fine-tuned on this dataset)");
  }
  const auto found = exported.parameters.find("item_embedding.weight");
  const int64_t id_items = found == exported.parameters.end() ? 0 : found->second.size(0) - 1;
  if (id_items != 0 && id_items != items) {
    runtime::throw_input_error(path, "has item ID embeddings for " + std::to_string(id_items) + " items, " +
                                         dataset.dir() + " has " + std::to_string(items));
  }
  model::MissRec model =
      make_model(model_config_of(exported.config, dataset.text_dim(), dataset.image_dim(), id_items), 0, device);
  load_parameters(*model, exported.parameters, path);
  model->eval();
  return model;
}

}  // namespace missrec::train
