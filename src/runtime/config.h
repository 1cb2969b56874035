#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace missrec::runtime {

// The choice fields' values. Each enum's names, in its order, are stated once, by
// ChoiceNames; the configuration holds enums, parsed from those names at load.
enum class DeviceChoice { kAuto, kCpu, kCuda };
enum class FeatureDtype { kFloat32, kFloat16, kBfloat16 };
enum class FeatureSharding { kAuto, kReplicated, kSharded };
enum class Activation { kGelu, kRelu };
enum class Negatives { kGlobal, kLocal };
// float32 everywhere, or bf16 matrix products (autocast) with float32 master weights,
// optimizer state, softmax, LayerNorm, normalisation and losses.
enum class Precision { kFp32, kBf16 };
enum class BackendChoice { kAuto, kMpi, kNccl };
enum class FinetuneMode { kTransductive, kInductive };
enum class ClusterMethod { kExact, kSampled };

template <class Choice>
struct ChoiceNames;  // each choice enum's names, in its order
template <>
struct ChoiceNames<DeviceChoice> {
  static inline const std::vector<std::string> names{"auto", "cpu", "cuda"};
};
template <>
struct ChoiceNames<FeatureDtype> {
  static inline const std::vector<std::string> names{"float32", "float16", "bfloat16"};
};
template <>
struct ChoiceNames<FeatureSharding> {
  static inline const std::vector<std::string> names{"auto", "replicated", "sharded"};
};
template <>
struct ChoiceNames<Activation> {
  static inline const std::vector<std::string> names{"gelu", "relu"};
};
template <>
struct ChoiceNames<Negatives> {
  static inline const std::vector<std::string> names{"global", "local"};
};
template <>
struct ChoiceNames<Precision> {
  static inline const std::vector<std::string> names{"fp32", "bf16"};
};
template <>
struct ChoiceNames<BackendChoice> {
  static inline const std::vector<std::string> names{"auto", "mpi", "nccl"};
};
template <>
struct ChoiceNames<ClusterMethod> {
  static inline const std::vector<std::string> names{"exact", "sampled"};
};
template <>
struct ChoiceNames<FinetuneMode> {
  static inline const std::vector<std::string> names{"transductive", "inductive"};
};

// The position of `text` among `names`; InputError naming `where` and the names when it
// is none of them.
int choice_index(const std::vector<std::string>& names, const std::string& text, const std::string& where);

template <class Choice>
const std::string& name_of(Choice value) {
  return ChoiceNames<Choice>::names[static_cast<size_t>(value)];
}

template <class Choice>
Choice parse_choice(const std::string& text, const std::string& where) {
  return static_cast<Choice>(choice_index(ChoiceNames<Choice>::names, text, where));
}

// The whole configuration as one typed tree. Defaults are the paper's.
// Every field is described once in config_fields(); loading, overrides, printing and
// range checks all go through that table, so no code reads config by string key.
struct RunConfig {
  std::string name = "missrec";
  std::string dir;  // empty: runs/<name>
  int64_t seed = 2020;
  int64_t threads = 0;  // 0: the CPUs available to each rank
  DeviceChoice device = DeviceChoice::kAuto;
};

struct DataConfig {
  std::string dir;
  FeatureDtype feature_dtype = FeatureDtype::kFloat32;
  FeatureSharding feature_sharding = FeatureSharding::kAuto;
  int64_t shard_above_mb = 2048;
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
  Activation hidden_act = Activation::kGelu;
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
  Negatives negatives = Negatives::kGlobal;
};

struct TrainConfig {
  int64_t epochs = 100;
  int64_t batch_size = 4096;
  double lr = 1e-3;
  double weight_decay = 0.0;
  int64_t log_every = 20;
  int64_t max_steps = 0;  // 0: run every epoch
  Precision precision = Precision::kFp32;
};

struct ClusterConfig {
  double interest_ratio = 0.02;
  double knn_local_ratio = 0.1;
  int64_t knn_k = 0;
  int64_t memory_mb = 1024;
  ClusterMethod method = ClusterMethod::kExact;
  int64_t sample_size = 4096;
};

struct CheckpointConfig {
  int64_t every_epochs = 10;
  int64_t keep = 3;
};

struct DistConfig {
  double timeout_s = 300.0;
  BackendChoice backend = BackendChoice::kAuto;
};

struct FinetuneConfig {
  FinetuneMode mode = FinetuneMode::kTransductive;
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

// A choice field seen through its index into its names.
struct ChoiceRef {
  std::function<int()> get;
  std::function<void(int)> set;
  const std::vector<std::string>* names;
};

using FieldRef = std::variant<int64_t*, double*, bool*, std::string*, ChoiceRef>;

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
  Range range;  // numeric fields
};

const std::vector<FieldSpec>& config_fields();
// "[0, 1)", "(0, inf]": a range as error messages and the reference print it.
std::string describe_range(const Range& range);
const std::vector<std::string>& config_sections();
const FieldSpec* find_field(const std::string& key);

// Checks one numeric field's value against its range; throws InputError naming
// `where` and the key.
void validate_field(const FieldSpec& field, Config& config, const std::string& where);

// The rules that span fields (e.g. hidden_size divisible by n_heads); each field's own
// range is checked by validate_field.
void validate_relations(const Config& config, const std::string& where);

}  // namespace missrec::runtime
