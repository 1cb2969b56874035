#include "train/checkpoint.h"

#include <glog/logging.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "data/h5_file.h"
#include "runtime/error.h"
#include "runtime/file_io.h"

namespace missrec::train {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kFormatVersion = 2;
constexpr int64_t kOldestFormatVersion = 1;
constexpr const char* kManifest = "checkpoint.yaml";
constexpr const char* kState = "state.h5";
constexpr const char* kConfig = "config.yaml";
constexpr const char* kBest = "best.h5";
constexpr const char* kPrefix = "ckpt-";

std::string directory_name(const TrainingState& state) {
  char name[64];
  std::snprintf(name, sizeof name, "%se%04lld-s%09lld", kPrefix, static_cast<long long>(state.epoch),
                static_cast<long long>(state.global_step));
  return name;
}

void write_optimizer(data::H5File& file, const OptimizerState& optimizer) {
  std::vector<std::string> names;
  std::vector<int64_t> sizes;
  for (const auto& [name, size] : optimizer.layout) {
    names.push_back(name);
    sizes.push_back(size);
  }
  file.write_strings("/optimizer/names", names);
  file.write_int64("/optimizer/sizes", sizes);
  file.write_tensor("/optimizer/exp_avg", optimizer.exp_avg.to(torch::kCPU).contiguous());
  file.write_tensor("/optimizer/exp_avg_sq", optimizer.exp_avg_sq.to(torch::kCPU).contiguous());
}

// Format 2: flat moments with their layout. Format 1: one dataset per parameter under
// /optimizer/exp_avg/ and /optimizer/exp_avg_sq/, concatenated here in listing order.
OptimizerState read_optimizer(const data::H5File& file, int64_t format_version) {
  OptimizerState optimizer;
  optimizer.steps = file.attribute<int64_t>("/", "optimizer_steps");
  if (!file.exists("/optimizer")) return optimizer;
  if (format_version >= 2) {
    const std::vector<std::string> names = file.read_strings("/optimizer/names");
    const std::vector<int64_t> sizes = file.read_int64("/optimizer/sizes");
    if (names.size() != sizes.size()) {
      runtime::throw_input_error(file.path() + ": /optimizer/names", "has another length than /optimizer/sizes");
    }
    for (size_t i = 0; i < names.size(); ++i) optimizer.layout.emplace_back(names[i], sizes[i]);
    optimizer.exp_avg = file.read_tensor("/optimizer/exp_avg").reshape({-1});
    optimizer.exp_avg_sq = file.read_tensor("/optimizer/exp_avg_sq").reshape({-1});
    return optimizer;
  }
  std::vector<torch::Tensor> first;
  std::vector<torch::Tensor> second;
  for (const std::string& name : file.list("/optimizer/exp_avg")) {
    first.push_back(file.read_tensor("/optimizer/exp_avg/" + name).reshape({-1}));
    second.push_back(file.read_tensor("/optimizer/exp_avg_sq/" + name).reshape({-1}));
    optimizer.layout.emplace_back(name, first.back().numel());
  }
  optimizer.exp_avg = first.empty() ? torch::zeros({0}) : torch::cat(first);
  optimizer.exp_avg_sq = second.empty() ? torch::zeros({0}) : torch::cat(second);
  return optimizer;
}

std::string exact_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

void write_state_file(const std::string& path, const TrainingState& state) {
  data::H5File file = data::H5File::create(path);
  for (const auto& [name, tensor] : state.model) file.write_tensor("/model/" + name, tensor);
  if (state.optimizer.exp_avg.defined()) write_optimizer(file, state.optimizer);
  data::write_interests(file, "/interests", state.interests);
  file.write_tensor("/rng/cpu", state.rng_cpu);
  if (state.rng_device.defined()) file.write_tensor("/rng/device", state.rng_device);
  const ValidationProgress& validation = state.validation;
  const std::pair<const char*, int64_t> counters[] = {{"format_version", kFormatVersion},
                                                      {"epoch", state.epoch},
                                                      {"step", state.step},
                                                      {"global_step", state.global_step},
                                                      {"world_size", state.world_size},
                                                      {"optimizer_steps", state.optimizer.steps},
                                                      {"best_epoch", validation.best_epoch},
                                                      {"epochs_without_gain", validation.epochs_without_gain}};
  for (const auto& [name, value] : counters) file.set_int_attribute("/", name, value);
  file.set_string_attribute("/", "best_score", exact_text(validation.best_score));
  file.flush();
}

std::string manifest_text(const TrainingState& state, const std::string& dir, const std::vector<std::string>& files) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << "missrec-checkpoint";
  out << YAML::Key << "format_version" << YAML::Value << kFormatVersion;
  out << YAML::Key << "epoch" << YAML::Value << state.epoch;
  out << YAML::Key << "step" << YAML::Value << state.step;
  out << YAML::Key << "global_step" << YAML::Value << state.global_step;
  out << YAML::Key << "world_size" << YAML::Value << state.world_size;
  out << YAML::Key << "config_hash" << YAML::Value << state.config_hash;
  // Named so that a user can check a file with a standard tool: xxhsum -H3 FILE.
  out << YAML::Key << "checksum" << YAML::Value << runtime::digest_name(runtime::FileDigest::kXxh3_64);
  out << YAML::Key << "files" << YAML::Value << YAML::BeginMap;
  for (const std::string& file : files) {
    out << YAML::Key << file << YAML::Value << runtime::file_digest_hex(dir + "/" + file);
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// Checkpoint directories under `dir`, oldest first (by global step, then name).
std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) == 0 && name.find(".partial") == std::string::npos && entry.is_directory() &&
        !entry.is_symlink()) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    const std::string step_a = a.substr(a.find("-s") + 2);
    const std::string step_b = b.substr(b.find("-s") + 2);
    return step_a != step_b ? step_a < step_b : a < b;
  });
  return names;
}

void point_latest(const std::string& checkpoints_dir, const std::string& name) {
  const std::string link = checkpoints_dir + "/latest";
  const std::string staging = link + ".tmp";
  std::error_code error;
  fs::remove(staging, error);
  fs::create_directory_symlink(name, staging, error);
  if (error) runtime::throw_output_error(staging, "cannot create link: " + error.message());
  fs::rename(staging, link, error);
  if (error) runtime::throw_output_error(link, "cannot update link: " + error.message());
  runtime::sync_path(checkpoints_dir);
}

}  // namespace

std::string config_hash(const std::string& config_yaml) {
  uint64_t hash = 1469598103934665603ULL;
  for (const unsigned char c : config_yaml) hash = (hash ^ c) * 1099511628211ULL;
  return runtime::hex_digest(hash);
}

std::string write_checkpoint(const std::string& checkpoints_dir, const TrainingState& state, int64_t keep,
                             const std::function<void()>& before_commit) {
  std::error_code error;
  fs::create_directories(checkpoints_dir, error);
  if (error) runtime::throw_output_error(checkpoints_dir, "cannot create directory: " + error.message());
  const std::string name = directory_name(state);
  const std::string final_dir = checkpoints_dir + "/" + name;
  const std::string staging = final_dir + ".partial";
  fs::remove_all(staging, error);
  fs::create_directory(staging, error);
  if (error) runtime::throw_output_error(staging, "cannot create directory: " + error.message());
  try {
    write_state_file(staging + "/" + kState, state);
    runtime::sync_path(staging + "/" + kState);
    runtime::write_file_atomically(staging + "/" + kConfig, state.config_yaml);
    std::vector<std::string> files = {kState, kConfig};
    if (!state.best_model_file.empty()) {
      fs::copy_file(state.best_model_file, staging + "/" + kBest, error);
      if (error) runtime::throw_output_error(staging + "/" + kBest, "cannot copy the best model: " + error.message());
      runtime::sync_path(staging + "/" + kBest);
      files.push_back(kBest);
    }
    runtime::write_file_atomically(staging + "/" + kManifest, manifest_text(state, staging, files));
    runtime::sync_path(staging);
    if (before_commit) before_commit();
    fs::remove_all(final_dir, error);
    fs::rename(staging, final_dir, error);
    if (error) runtime::throw_output_error(final_dir, "cannot move checkpoint into place: " + error.message());
    runtime::sync_path(checkpoints_dir);
  } catch (...) {
    fs::remove_all(staging, error);
    throw;
  }
  point_latest(checkpoints_dir, name);
  const std::vector<std::string> all = list_checkpoints(checkpoints_dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(keep, 1)) < all.size(); ++i) {
    if (all[i] != name) fs::remove_all(checkpoints_dir + "/" + all[i], error);
  }
  return final_dir;
}

TrainingState read_checkpoint(const std::string& dir) {
  const std::string manifest_path = dir + "/" + kManifest;
  if (!fs::is_directory(dir)) runtime::throw_input_error(dir, "not a checkpoint directory");
  if (!fs::exists(manifest_path)) {
    runtime::throw_input_error(manifest_path, "missing (an incomplete or foreign checkpoint)");
  }
  YAML::Node manifest;
  try {
    manifest = YAML::LoadFile(manifest_path);
  } catch (const YAML::Exception& e) {
    runtime::throw_input_error(manifest_path, std::string("not valid YAML: ") + e.what());
  }
  if (!manifest.IsMap() || !manifest["format"] || manifest["format"].as<std::string>("") != "missrec-checkpoint") {
    runtime::throw_input_error(manifest_path, "expected format: missrec-checkpoint");
  }
  const int64_t format_version = manifest["format_version"].as<int64_t>(-1);
  if (format_version < kOldestFormatVersion || format_version > kFormatVersion) {
    runtime::throw_input_error(
        manifest_path, "unsupported format_version " + std::to_string(format_version) + " (this build reads 1 and 2)");
  }
  // Checkpoints written before the digest was named carry the legacy 64-bit mix.
  const std::string digest_key = manifest["checksum"] ? manifest["checksum"].as<std::string>("") : "";
  runtime::FileDigest digest = runtime::FileDigest::kLegacyMix64;
  if (digest_key == runtime::digest_name(runtime::FileDigest::kXxh3_64)) {
    digest = runtime::FileDigest::kXxh3_64;
  } else if (manifest["checksum"]) {
    runtime::throw_input_error(manifest_path, "unknown checksum '" + digest_key + "' (expected xxh3_64)");
  }
  const YAML::Node files = manifest["files"];
  for (const char* file : {kState, kConfig}) {
    if (!files || !files[file]) runtime::throw_input_error(manifest_path, std::string("no checksum for ") + file);
  }
  for (const auto& item : files) {
    const std::string file = item.first.as<std::string>("");
    const std::string expected = item.second.as<std::string>("");
    const std::string actual = runtime::file_digest_hex(dir + "/" + file, digest);
    if (actual != expected) {
      runtime::throw_input_error(dir + "/" + file, "checksum mismatch (expected " + expected + ", got " + actual +
                                                       "): the file is corrupt or truncated");
    }
  }
  TrainingState state;
  const data::H5File file = data::H5File::open_read(dir + "/" + kState);
  state.epoch = file.attribute<int64_t>("/", "epoch");
  state.step = file.attribute<int64_t>("/", "step");
  state.global_step = file.attribute<int64_t>("/", "global_step");
  state.world_size = file.attribute<int64_t>("/", "world_size");
  for (const std::string& name : file.list("/model")) state.model[name] = file.read_tensor("/model/" + name);
  state.optimizer = read_optimizer(file, format_version);
  state.interests = data::read_interests(file, "/interests");
  if (format_version >= 2) {
    state.validation.best_epoch = file.attribute<int64_t>("/", "best_epoch");
    state.validation.epochs_without_gain = file.attribute<int64_t>("/", "epochs_without_gain");
    state.validation.best_score = std::stod(file.attribute<std::string>("/", "best_score"));
  }
  if (files[kBest]) state.best_model_file = dir + "/" + kBest;
  state.rng_cpu = file.read_tensor("/rng/cpu");
  if (file.exists("/rng/device")) state.rng_device = file.read_tensor("/rng/device");
  state.config_yaml = runtime::read_text_file(dir + "/" + kConfig);
  state.config_hash = manifest["config_hash"].as<std::string>("");
  return state;
}

std::string resolve_and_read_checkpoint(const std::string& spec, const std::string& checkpoints_dir,
                                        TrainingState* state) {
  if (spec != "latest") {
    *state = read_checkpoint(spec);
    return spec;
  }
  std::vector<std::string> candidates;
  std::error_code error;
  const fs::path latest = fs::path(checkpoints_dir) / "latest";
  if (fs::is_symlink(latest, error)) {
    candidates.push_back(fs::read_symlink(latest, error).filename().string());
  }
  std::vector<std::string> all = list_checkpoints(checkpoints_dir);
  std::reverse(all.begin(), all.end());
  for (const std::string& name : all) {
    if (std::find(candidates.begin(), candidates.end(), name) == candidates.end()) candidates.push_back(name);
  }
  if (candidates.empty()) {
    runtime::throw_input_error("--resume latest", "no checkpoint under " + checkpoints_dir);
  }
  std::string first_problem;
  for (const std::string& name : candidates) {
    const std::string dir = checkpoints_dir + "/" + name;
    try {
      *state = read_checkpoint(dir);
      if (!first_problem.empty()) LOG(WARNING) << "resuming from the older checkpoint " << dir;
      return dir;
    } catch (const runtime::InputError& e) {
      LOG(WARNING) << "skipping checkpoint: " << e.what();
      if (first_problem.empty()) first_problem = e.what();
    }
  }
  runtime::throw_input_error("--resume latest",
                             "no valid checkpoint under " + checkpoints_dir + " (newest: " + first_problem + ")");
}

}  // namespace missrec::train
