#include "runtime/config.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "runtime/config_yaml.h"
#include "runtime/error.h"

namespace missrec::runtime {
namespace {

// Writes YAML text to a temporary file and removes it afterwards.
class TempYaml {
 public:
  explicit TempYaml(const std::string& text) {
    char name[] = "/tmp/missrec_config_test_XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close_fd(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempYaml() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static void close_fd(int fd) {
    if (fd >= 0) ::close(fd);
  }
  std::string path_;
};

// The message of the InputError that loading throws ("" when it loads fine).
std::string load_error(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  TempYaml file(yaml);
  try {
    load_config(file.path(), overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string source_dir() {
  const char* dir = std::getenv("MISSREC_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

TEST(Config, DefaultsAreThePapers) {
  const Config config;
  EXPECT_EQ(config.run.seed, 2020);
  EXPECT_EQ(config.model.hidden_size, 300);
  EXPECT_EQ(config.model.n_heads, 4);
  EXPECT_EQ(config.model.n_layers, 2);
  EXPECT_EQ(config.model.inner_size, 256);
  EXPECT_DOUBLE_EQ(config.model.dropout, 0.5);
  EXPECT_EQ(config.model.max_seq_len, 50);
  EXPECT_DOUBLE_EQ(config.model.temperature, 0.07);
  EXPECT_DOUBLE_EQ(config.loss.lambda, 1e-3);
  EXPECT_DOUBLE_EQ(config.loss.gamma, 1e-4);
  EXPECT_EQ(config.train.batch_size, 4096);
  EXPECT_EQ(config.train.epochs, 100);
  EXPECT_DOUBLE_EQ(config.cluster.interest_ratio, 0.02);
  EXPECT_DOUBLE_EQ(config.dist.timeout_s, 300.0);
  EXPECT_EQ(config.dist.backend, BackendChoice::kAuto);
  EXPECT_EQ(config.contrastive.negatives, Negatives::kGlobal);
  EXPECT_EQ(config.run_dir(), "runs/missrec");
}

TEST(Config, ShippedConfigsLoad) {
  for (const char* name : {"pretrain", "finetune", "tiny"}) {
    SCOPED_TRACE(name);
    const Config config = load_config(source_dir() + "/configs/" + name + ".yaml", {});
    EXPECT_EQ(config.run.name, name);
  }
  const Config finetune = load_config(source_dir() + "/configs/finetune.yaml", {});
  EXPECT_EQ(finetune.train.batch_size, 512);
  EXPECT_DOUBLE_EQ(finetune.cluster.interest_ratio, 0.5);
}

TEST(Config, GoodFileSetsEveryKind) {
  TempYaml file(
      "run: {name: exp1, seed: 7}\n"
      "model:\n  hidden_size: 64\n  dropout: 0.1\n  hidden_act: relu\n"
      "train:\n  lr: 5e-4\n"
      "dist:\n  backend: mpi\n  timeout_s: 30\n");
  const Config config = load_config(file.path(), {});
  EXPECT_EQ(config.run.name, "exp1");
  EXPECT_EQ(config.run.seed, 7);
  EXPECT_EQ(config.model.hidden_size, 64);
  EXPECT_DOUBLE_EQ(config.model.dropout, 0.1);
  EXPECT_EQ(config.model.hidden_act, Activation::kRelu);
  EXPECT_DOUBLE_EQ(config.train.lr, 5e-4);
  EXPECT_EQ(config.dist.backend, BackendChoice::kMpi);
  EXPECT_EQ(config.run_dir(), "runs/exp1");
  EXPECT_EQ(config.model.n_heads, 4);  // untouched keys keep their defaults
}

TEST(Config, EmptyFileAndEmptySectionMeanDefaults) {
  EXPECT_EQ(load_error(""), "");
  EXPECT_EQ(load_error("train:\n"), "");
}

TEST(Config, BadValuesNameFileLineAndKey) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"train:\n  lr: abc\n", ":2: train.lr: expected a number, got 'abc'"},
      {"train:\n  batch_size: 1.5\n", "train.batch_size: expected an integer, got '1.5'"},
      {"train:\n  batch_size: 99999999999999999999\n", "train.batch_size: expected an integer"},
      {"train:\n  batch_size: 0\n", "train.batch_size: expected an integer in [1,"},
      {"train:\n  lr: 0\n", "train.lr: expected a number in (0,"},
      {"train:\n  lr: .nan\n", "train.lr: expected a number, got '.nan'"},
      {"model:\n  dropout: 1.0\n", "model.dropout: expected a number in [0, 1)"},
      {"model:\n  dropout: -0.1\n", "model.dropout: expected a number in [0, 1)"},
      {"dist:\n  timeout_s: -5\n", "dist.timeout_s: expected a number in (0,"},
      {"dist:\n  backend: gloo\n", "dist.backend: expected one of auto, mpi, nccl, got 'gloo'"},
      {"data:\n  feature_dtype: bf16\n", "data.feature_dtype: expected one of float32, float16"},
      {"train:\n  lr: [1, 2]\n", "train.lr: expected a single value"},
      {"train: 5\n", "train: expected a mapping of keys"},
      {"- a\n- b\n", "expected a mapping of sections"},
      {"train:\n  lr: [1, 2\n", "invalid YAML"},
      {"model:\n  hidden_size: 301\n", "model.hidden_size: 301 is not divisible by model.n_heads=4"},
      {"model:\n  n_layers: 3\n", "model.n_layers: expected an even number"},
      {"run:\n  name: a/b\n", "run.name: expected a non-empty name without '/'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string error = load_error(c.yaml);
    EXPECT_NE(error.find(c.expected), std::string::npos) << "got: " << error;
    EXPECT_NE(error.find("/tmp/missrec_config_test_"), std::string::npos) << "error must name the file: " << error;
  }
}

TEST(Config, UnknownKeysSuggestTheClosest) {
  EXPECT_NE(load_error("train:\n  lrr: 1\n").find("unknown key 'train.lrr' (did you mean 'train.lr'?)"),
            std::string::npos);
  EXPECT_NE(load_error("trian:\n  lr: 1\n").find("unknown section 'trian' (did you mean 'train'?)"), std::string::npos);
  EXPECT_NE(load_error("model:\n  hiden_size: 8\n").find("did you mean 'model.hidden_size'?"), std::string::npos);
  const std::string far = load_error("train:\n  completely_unrelated: 1\n");
  EXPECT_NE(far.find("unknown key 'train.completely_unrelated'"), std::string::npos);
  EXPECT_EQ(far.find("did you mean"), std::string::npos);
}

TEST(Config, OverridesBeatTheFileInOrder) {
  TempYaml file("train:\n  lr: 0.01\n  epochs: 5\n");
  const Config config = load_config(file.path(), {"train.lr=0.02", "train.epochs=6", "train.lr=0.03"});
  EXPECT_DOUBLE_EQ(config.train.lr, 0.03);
  EXPECT_EQ(config.train.epochs, 6);
  const Config untouched = load_config(file.path(), {});
  EXPECT_DOUBLE_EQ(untouched.train.lr, 0.01);
}

TEST(Config, OverrideMayFixABadFileValue) {
  TempYaml file("train:\n  lr: -1\n");
  EXPECT_THROW(load_config(file.path(), {}), InputError);
  EXPECT_DOUBLE_EQ(load_config(file.path(), {"train.lr=0.5"}).train.lr, 0.5);
}

TEST(Config, BadOverrides) {
  auto error_of = [](const std::string& assignment) -> std::string {
    try {
      load_config("", {assignment});
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("train.lr=abc"), "--set: train.lr: expected a number, got 'abc'");
  EXPECT_EQ(error_of("trian.lr=1"), "--set trian.lr=1: unknown key 'trian.lr' (did you mean 'train.lr'?)");
  EXPECT_EQ(error_of("train.lr"), "--set train.lr: expected section.key=value");
  EXPECT_EQ(error_of("=1"), "--set =1: expected section.key=value");
  EXPECT_NE(error_of("train.batch_size=-3").find("--set: train.batch_size: expected an integer in"), std::string::npos);
  EXPECT_EQ(error_of("train.epochs="), "--set: train.epochs: expected an integer, got ''");
  EXPECT_EQ(load_config("", {"run.name=\"quoted\""}).run.name, "quoted");
}

TEST(Config, MissingFileIsAnInputError) {
  try {
    load_config("/nonexistent/missrec.yaml", {});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/missrec.yaml: cannot read the config file");
  }
}

TEST(Config, YamlRoundTripsEveryField) {
  Config config;
  config.run.name = "round \"trip\"";
  config.run.dir = "/scratch/x";
  config.model.hidden_size = 128;
  config.model.layer_norm_eps = 1e-12;
  config.train.lr = 0.1 + 0.2;  // not exactly representable in short decimal
  config.loss.lambda = 0.0;
  config.dist.backend = BackendChoice::kNccl;
  config.finetune.mode = FinetuneMode::kInductive;
  const std::string text = to_yaml(config);
  Config loaded;
  apply_yaml_text(loaded, text, "round-trip");
  EXPECT_EQ(to_yaml(loaded), text);
  EXPECT_EQ(loaded.train.lr, config.train.lr);
  EXPECT_EQ(loaded.run.name, config.run.name);
  EXPECT_EQ(loaded.model.layer_norm_eps, 1e-12);
}

TEST(Config, EveryFieldHasDocAndUniqueKey) {
  std::set<std::string> keys;
  for (const FieldSpec& field : config_fields()) {
    EXPECT_FALSE(field.doc.empty()) << field.key;
    EXPECT_TRUE(keys.insert(field.key).second) << "duplicate " << field.key;
    EXPECT_NE(find_field(field.key), nullptr);
  }
  EXPECT_EQ(config_sections().size(), 11u);
}

}  // namespace
}  // namespace missrec::runtime
