#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace missrec::runtime {

// The whole configuration as one typed tree. Defaults are the paper's.
// Every field is described once in config_fields(); loading, overrides, printing and
// range checks all go through that table, so no code reads config by string key.
struct RunConfig {
  std::string name = "missrec";
  std::string dir;  // empty: runs/<name>
  int64_t seed = 2020;
  int64_t threads = 0;  // 0: the CPUs available to each rank
  std::string device = "auto";
};

struct DataConfig {
  std::string dir;
  std::string feature_dtype = "float32";
  int64_t prefetch_batches = 4;
};

struct ModelConfig {
  int64_t hidden_size = 300;
  int64_t n_heads = 4;
  int64_t n_layers = 2;
  int64_t inner_size = 256;
  double dropout = 0.5;
  double attn_dropout = 0.5;
  int64_t max_seq_len = 50;
  double temperature = 0.07;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";
};

struct LossConfig {
  double lambda = 1e-3;
  double gamma = 1e-4;
};

struct AugmentConfig {
  double item_drop_prob = 0.9;
  double item_drop_ratio = 0.2;
};

struct ContrastiveConfig {
  std::string negatives = "global";
};

struct TrainConfig {
  int64_t epochs = 100;
  int64_t batch_size = 4096;
  double lr = 1e-3;
  double weight_decay = 0.0;
  int64_t log_every = 20;
  int64_t max_steps = 0;  // 0: run every epoch
  std::string precision = "fp32";
};

struct ClusterConfig {
  double interest_ratio = 0.02;
  double knn_local_ratio = 0.1;
  int64_t knn_k = 0;
  int64_t memory_mb = 1024;
};

struct CheckpointConfig {
  int64_t every_epochs = 10;
  int64_t keep = 3;
};

struct DistConfig {
  double timeout_s = 300.0;
  std::string backend = "auto";
};

struct FinetuneConfig {
  std::string mode = "transductive";
  int64_t patience = 10;
};

struct Config {
  RunConfig run;
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  AugmentConfig augment;
  ContrastiveConfig contrastive;
  TrainConfig train;
  ClusterConfig cluster;
  CheckpointConfig checkpoint;
  DistConfig dist;
  FinetuneConfig finetune;

  // run.dir with its default applied.
  std::string run_dir() const;
};

using FieldRef = std::variant<int64_t*, double*, bool*, std::string*>;

// Numeric bounds; an open bound excludes its value.
struct Range {
  double min = -1e300;
  double max = 1e300;
  bool min_open = false;
  bool max_open = false;
};

struct FieldSpec {
  std::string key;  // "section.name"
  std::string doc;
  std::function<FieldRef(Config&)> ref;
  Range range;
  std::vector<std::string> choices;  // non-empty: a string field limited to these
};

const std::vector<FieldSpec>& config_fields();
// "[0, 1)", "(0, inf]": a range as error messages and the reference print it.
std::string describe_range(const Range& range);
const std::vector<std::string>& config_sections();
const FieldSpec* find_field(const std::string& key);

// Checks one field's value against its range or choices; throws InputError naming
// `where` and the key.
void validate_field(const FieldSpec& field, Config& config, const std::string& where);

// The rules that span fields (e.g. hidden_size divisible by n_heads); each field's own
// range is checked by validate_field.
void validate_relations(const Config& config, const std::string& where);

}  // namespace missrec::runtime
