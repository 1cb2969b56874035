// Checkpoints round-trip: what write_checkpoint writes, read_checkpoint and "latest"
// give back bit for bit; keep removes the oldest; a changed byte is rejected.
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/h5_file.h"
#include "runtime/error.h"
#include "runtime/file_io.h"
#include "support/fixture_path.h"
#include "train/parameter_set.h"

namespace missrec::train {
namespace {

namespace fs = std::filesystem;

TrainingState sample_state(int64_t global_step) {
  torch::manual_seed(static_cast<uint64_t>(global_step));
  TrainingState state;
  state.epoch = 2;
  state.step = 7;
  state.global_step = global_step;
  state.world_size = 3;
  state.model["text_adaptor.weight"] = torch::randn({4, 6});
  state.model["fusion_factor"] = torch::randn({1});
  state.optimizer.steps = global_step;
  state.optimizer.layout = {{"text_adaptor.weight", 24}, {"fusion_factor", 1}};
  state.optimizer.exp_avg = torch::randn({25});
  state.optimizer.exp_avg_sq = torch::rand({25});
  state.interests.interest_embeddings = torch::randn({5, 3});
  state.interests.text_interest = torch::randint(1, 5, {9}, torch::kLong);
  state.interests.image_interest = torch::randint(1, 5, {9}, torch::kLong);
  state.validation = {0.0123456789012345678, 3, 1};
  state.rng_cpu = torch::randint(0, 255, {3, 16}, torch::kLong);
  state.config_yaml = "run:\n  name: t\n";
  state.config_hash = config_hash(state.config_yaml);
  return state;
}

void expect_same(const TrainingState& a, const TrainingState& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.global_step, b.global_step);
  EXPECT_EQ(a.world_size, b.world_size);
  EXPECT_EQ(a.optimizer.steps, b.optimizer.steps);
  ASSERT_EQ(a.model.size(), b.model.size());
  for (const auto& [name, tensor] : a.model) EXPECT_TRUE(torch::equal(tensor, b.model.at(name))) << name;
  EXPECT_EQ(a.optimizer.layout, b.optimizer.layout);
  EXPECT_TRUE(torch::equal(a.optimizer.exp_avg, b.optimizer.exp_avg));
  EXPECT_TRUE(torch::equal(a.optimizer.exp_avg_sq, b.optimizer.exp_avg_sq));
  EXPECT_TRUE(torch::equal(a.interests.interest_embeddings, b.interests.interest_embeddings));
  EXPECT_TRUE(torch::equal(a.interests.text_interest, b.interests.text_interest));
  EXPECT_TRUE(torch::equal(a.interests.image_interest, b.interests.image_interest));
  EXPECT_EQ(a.validation.best_score, b.validation.best_score);
  EXPECT_EQ(a.validation.best_epoch, b.validation.best_epoch);
  EXPECT_EQ(a.validation.epochs_without_gain, b.validation.epochs_without_gain);
  EXPECT_TRUE(torch::equal(a.rng_cpu, b.rng_cpu));
  EXPECT_FALSE(b.rng_device.defined());
  EXPECT_EQ(a.config_yaml, b.config_yaml);
  EXPECT_EQ(a.config_hash, b.config_hash);
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("missrec_checkpoint_test_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CheckpointTest, RoundTripsEveryField) {
  const TrainingState written = sample_state(11);
  const std::string path = write_checkpoint(dir_, written, 2);
  expect_same(written, read_checkpoint(path));
  TrainingState latest;
  EXPECT_EQ(resolve_and_read_checkpoint("latest", dir_, &latest), path);
  expect_same(written, latest);
}

TEST_F(CheckpointTest, LatestIsTheNewestAndKeepRemovesTheOldest) {
  std::vector<std::string> paths;
  for (int64_t step : {1, 2, 3}) paths.push_back(write_checkpoint(dir_, sample_state(step), 2));
  EXPECT_FALSE(fs::exists(paths[0]));
  EXPECT_TRUE(fs::exists(paths[1]));
  TrainingState latest;
  EXPECT_EQ(resolve_and_read_checkpoint("latest", dir_, &latest), paths[2]);
  expect_same(sample_state(3), latest);
}

TEST_F(CheckpointTest, AChangedByteIsRejectedNamingTheFile) {
  const std::string path = write_checkpoint(dir_, sample_state(5), 1);
  const std::string state_file = path + "/state.h5";
  std::fstream file(state_file, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(fs::file_size(state_file) / 2));
  char byte = 0;
  file.read(&byte, 1);
  file.seekp(static_cast<std::streamoff>(fs::file_size(state_file) / 2));
  byte = static_cast<char>(byte ^ 0x5a);
  file.write(&byte, 1);
  file.close();
  try {
    read_checkpoint(path);
    FAIL() << "a checkpoint with a changed byte was accepted";
  } catch (const runtime::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("state.h5"), std::string::npos) << error.what();
  }
}

// What `xxhsum -H3 FILE` (Debian's xxhash, a standard tool) prints for a file.
std::string xxhsum_h3(const std::string& path) {
  std::FILE* pipe = ::popen(("xxhsum -H3 '" + path + "' 2>&1").c_str(), "r");
  if (pipe == nullptr) return "";
  char line[4096] = {};
  const bool got = std::fgets(line, sizeof line, pipe) != nullptr;
  ::pclose(pipe);
  const std::string text = got ? line : "";
  const size_t equals = text.rfind("= ");
  return equals == std::string::npos ? text : text.substr(equals + 2, 16);
}

TEST_F(CheckpointTest, TheManifestNamesXxh3AndAStandardToolAgrees) {
  const std::string path = write_checkpoint(dir_, sample_state(9), 1);
  const YAML::Node manifest = YAML::LoadFile(path + "/checkpoint.yaml");
  EXPECT_EQ(manifest["checksum"].as<std::string>(""), "xxh3_64");
  for (const char* file : {"state.h5", "config.yaml"}) {
    EXPECT_EQ(manifest["files"][file].as<std::string>(""), xxhsum_h3(path + "/" + file))
        << file << " (xxhsum from Debian's xxhash package)";
  }
}

TEST_F(CheckpointTest, ACheckpointWithTheLegacyDigestStillLoads) {
  const TrainingState written = sample_state(4);
  const std::string path = write_checkpoint(dir_, written, 1);
  // The manifest as checkpoints were written before they named their digest.
  YAML::Node manifest = YAML::LoadFile(path + "/checkpoint.yaml");
  manifest.remove("checksum");
  for (const char* file : {"state.h5", "config.yaml"}) {
    manifest["files"][file] = runtime::file_digest_hex(path + "/" + file, runtime::FileDigest::kLegacyMix64);
  }
  std::ofstream(path + "/checkpoint.yaml") << YAML::Dump(manifest) << "\n";
  expect_same(written, read_checkpoint(path));
  manifest["checksum"] = "md5";
  std::ofstream(path + "/checkpoint.yaml") << YAML::Dump(manifest) << "\n";
  EXPECT_THROW(read_checkpoint(path), runtime::InputError) << "an unknown digest name is bad input";
}

TEST_F(CheckpointTest, TheBestModelTravelsInTheCheckpointUnderItsChecksum) {
  fs::create_directories(dir_);
  const std::string best = dir_ + "/best.h5";
  std::ofstream(best) << "a best model";
  TrainingState written = sample_state(6);
  written.best_model_file = best;
  const std::string path = write_checkpoint(dir_ + "/checkpoints", written, 1);
  const TrainingState read = read_checkpoint(path);
  ASSERT_EQ(read.best_model_file, path + "/best.h5");
  EXPECT_EQ(runtime::read_text_file(read.best_model_file), "a best model");
  std::ofstream(path + "/best.h5") << "another model";
  EXPECT_THROW(read_checkpoint(path), runtime::InputError) << "a changed best.h5 is caught by its checksum";
}

// Format 1 kept the optimizer's moments per parameter; such a checkpoint reads into the
// flat layout and an optimizer over the same parameters takes it by name.
TEST(CheckpointFormat1, StillLoadsIntoTheFlatOptimizerState) {
  const std::string dir = missrec::testing::fixture_path("checkpoint_format1");
  MISSREC_SKIP_WITHOUT_FIXTURE(dir);
  const TrainingState state = read_checkpoint(dir);
  EXPECT_EQ(state.optimizer.steps, 2);
  ASSERT_EQ(state.optimizer.layout.size(), state.model.size());
  const data::H5File file = data::H5File::open_read(dir + "/state.h5");
  int64_t offset = 0;
  for (const auto& [name, size] : state.optimizer.layout) {
    const torch::Tensor exp_avg_sq = file.read_tensor("/optimizer/exp_avg_sq/" + name).reshape({-1});
    EXPECT_TRUE(torch::equal(state.optimizer.exp_avg_sq.narrow(0, offset, size), exp_avg_sq)) << name;
    offset += size;
  }
  // A module with the checkpoint's parameters in another order.
  torch::nn::Module module;
  std::vector<std::pair<std::string, int64_t>> reversed(state.optimizer.layout.rbegin(), state.optimizer.layout.rend());
  for (const auto& [name, size] : reversed) {
    std::string flat_name = name;
    std::replace(flat_name.begin(), flat_name.end(), '.', '_');
    module.register_parameter(flat_name, state.model.at(name).clone());
  }
  ParameterSet parameters(module);
  Adam adam(parameters, AdamOptions{});
  OptimizerState renamed = state.optimizer;
  for (auto& [name, size] : renamed.layout) std::replace(name.begin(), name.end(), '.', '_');
  adam.load_state(renamed, dir);
  EXPECT_EQ(adam.steps(), 2);
  for (const auto& entry : parameters.entries()) {
    std::string name = entry.name;
    const auto original =
        std::find_if(state.optimizer.layout.begin(), state.optimizer.layout.end(), [&](const auto& item) {
          std::string flat = item.first;
          std::replace(flat.begin(), flat.end(), '.', '_');
          return flat == name;
        });
    ASSERT_NE(original, state.optimizer.layout.end()) << name;
    const torch::Tensor expected = file.read_tensor("/optimizer/exp_avg/" + original->first).reshape({-1});
    EXPECT_TRUE(torch::equal(adam.exp_avg().narrow(0, entry.offset, entry.tensor.numel()), expected)) << name;
  }
}

}  // namespace
}  // namespace missrec::train
