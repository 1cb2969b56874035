// Checkpoints round-trip: what write_checkpoint writes, read_checkpoint and "latest"
// give back bit for bit; keep removes the oldest; a changed byte is rejected.
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "runtime/error.h"
#include "runtime/file_io.h"

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
  state.optimizer_steps = global_step;
  state.moments["text_adaptor.weight"] = {torch::randn({4, 6}), torch::rand({4, 6})};
  state.moments["fusion_factor"] = {torch::randn({1}), torch::rand({1})};
  state.interest_embeddings = torch::randn({5, 3});
  state.text_interest = torch::randint(1, 5, {9}, torch::kLong);
  state.image_interest = torch::randint(1, 5, {9}, torch::kLong);
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
  EXPECT_EQ(a.optimizer_steps, b.optimizer_steps);
  ASSERT_EQ(a.model.size(), b.model.size());
  for (const auto& [name, tensor] : a.model) EXPECT_TRUE(torch::equal(tensor, b.model.at(name))) << name;
  ASSERT_EQ(a.moments.size(), b.moments.size());
  for (const auto& [name, m] : a.moments) {
    EXPECT_TRUE(torch::equal(m.exp_avg, b.moments.at(name).exp_avg)) << name;
    EXPECT_TRUE(torch::equal(m.exp_avg_sq, b.moments.at(name).exp_avg_sq)) << name;
  }
  EXPECT_TRUE(torch::equal(a.interest_embeddings, b.interest_embeddings));
  EXPECT_TRUE(torch::equal(a.text_interest, b.text_interest));
  EXPECT_TRUE(torch::equal(a.image_interest, b.image_interest));
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

}  // namespace
}  // namespace missrec::train
