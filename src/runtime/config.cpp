#include "runtime/config.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <type_traits>

#include "runtime/error.h"

namespace missrec::runtime {

namespace {

constexpr double kIntMax = 9.0e15;  // beyond this a double no longer holds every int64

Range at_least(double min) { return Range{min, kIntMax, false, false}; }
Range between(double min, double max) { return Range{min, max, false, false}; }
Range positive() { return Range{0.0, 1e300, true, false}; }
Range unit_open_right() { return Range{0.0, 1.0, false, true}; }
Range unit_open_left() { return Range{0.0, 1.0, true, false}; }

FieldRef field_ref(int64_t& field) { return &field; }
FieldRef field_ref(double& field) { return &field; }
FieldRef field_ref(std::string& field) { return &field; }
template <class Choice, class = std::enable_if_t<std::is_enum_v<Choice>>>
FieldRef field_ref(Choice& field) {
  return ChoiceRef{[&field] { return static_cast<int>(field); }, [&field](int index) { field = Choice(index); },
                   &ChoiceNames<Choice>::names};
}

#define MISSREC_FIELD(section, name, range, doc)                                         \
  FieldSpec {                                                                            \
#section "." #name, doc, [](Config & c) { return field_ref(c.section.name); }, range \
  }

std::vector<FieldSpec> build_fields() {
  const Range any;
  return {
      MISSREC_FIELD(run, name, any, "name of the run; run.dir defaults to runs/<name>"),
      MISSREC_FIELD(run, dir, any, "run directory: logs, metrics.jsonl, checkpoints/"),
      MISSREC_FIELD(run, seed, between(0, kIntMax), "seed for everything"),
      MISSREC_FIELD(run, threads, between(0, 4096), "CPU threads per rank (0: the node's CPUs shared among its ranks)"),
      MISSREC_FIELD(run, device, any,
                    "where a rank computes (auto: its GPU, local rank mod visible GPUs, when LibTorch sees one)"),
      MISSREC_FIELD(data, dir, any, "dataset directory"),
      MISSREC_FIELD(data, feature_dtype, any,
                    "dtype the feature tables are held in on the device (rows are used as float32)"),
      MISSREC_FIELD(data, feature_sharding, any,
                    "pretraining: every rank holds every item's features (replicated) or only its 1/P share, "
                    "each step fetching the rows its batch needs from their owners (sharded); auto: sharded on "
                    "more than one rank when the replicated tables exceed data.shard_above_mb. Fine-tuning and "
                    "serving score every item and hold them replicated"),
      MISSREC_FIELD(data, shard_above_mb, between(0, kIntMax),
                    "replicated feature tables above this size (MB per rank) are sharded under auto"),
      MISSREC_FIELD(data, prefetch_batches, between(1, 1024), "loader queue depth"),
      MISSREC_FIELD(model, hidden_size, between(1, 65536), "H"),
      MISSREC_FIELD(model, n_heads, between(1, 1024), "attention heads"),
      MISSREC_FIELD(model, n_layers, between(2, 64), "encoder + decoder layers (half each)"),
      MISSREC_FIELD(model, inner_size, between(1, 1 << 20), "feed-forward width F"),
      MISSREC_FIELD(model, dropout, unit_open_right(), "hidden dropout"),
      MISSREC_FIELD(model, attn_dropout, unit_open_right(), "attention dropout"),
      MISSREC_FIELD(model, max_seq_len, between(1, 4096), "longest history"),
      MISSREC_FIELD(model, temperature, positive(), "contrastive temperature tau"),
      MISSREC_FIELD(model, layer_norm_eps, positive(), "LayerNorm epsilon"),
      MISSREC_FIELD(model, hidden_act, any, "feed-forward activation"),
      MISSREC_FIELD(loss, lambda, at_least(0), "weight of the seq-seq loss"),
      MISSREC_FIELD(loss, gamma, at_least(0), "weight of the interest regulariser"),
      MISSREC_FIELD(augment, item_drop_prob, between(0, 1), "probability of item drop (else word drop) per batch"),
      MISSREC_FIELD(augment, item_drop_ratio, unit_open_right(), "fraction of positions dropped or word-dropped"),
      MISSREC_FIELD(contrastive, negatives, any, "in-batch negatives across all ranks or per rank"),
      MISSREC_FIELD(train, epochs, between(1, 1e9), "epochs"),
      MISSREC_FIELD(train, batch_size, between(1, 1e9), "global batch, split evenly over ranks"),
      MISSREC_FIELD(train, lr, positive(), "Adam learning rate"),
      MISSREC_FIELD(train, weight_decay, at_least(0), "Adam weight decay"),
      MISSREC_FIELD(train, log_every, between(1, 1e9), "steps between progress lines"),
      MISSREC_FIELD(train, max_steps, at_least(0),
                    "stop after this many optimizer steps in all, with a checkpoint (0: no limit)"),
      MISSREC_FIELD(train, precision, any,
                    "matrix products in float32, or in bf16 (float32 accumulation) with float32 weights, "
                    "optimizer state, softmax, LayerNorm, similarities and losses; bf16 on a CPU needs "
                    "bf16 arithmetic (AVX512_BF16 or AMX)"),
      MISSREC_FIELD(cluster, interest_ratio, unit_open_left(), "K = ceil(2N * interest_ratio)"),
      MISSREC_FIELD(cluster, knn_local_ratio, unit_open_left(), "k = ceil(2N * ratio) unless cluster.knn_k > 0"),
      MISSREC_FIELD(cluster, knn_k, at_least(0), "absolute k (0: use the ratio)"),
      MISSREC_FIELD(cluster, memory_mb, between(16, 1 << 24),
                    "per-rank working memory beside the tokens for the refresh's distance rows and state: "
                    "it sets how many distance tiles a GPU pass computes; the CPU summarises one tile at a time "
                    "(exit 2 when one tile does not fit)"),
      MISSREC_FIELD(cluster, method, any,
                    "exact DPC-KNN (O(N^2 D) per refresh), or sampled: densities and nearest denser points "
                    "from cluster.sample_size tokens and each token's neighbourhood (O(N m D))"),
      MISSREC_FIELD(cluster, sample_size, between(2, 1 << 30), "the sampled method's sample m"),
      MISSREC_FIELD(checkpoint, every_epochs, between(1, 1e9), "epochs between checkpoints"),
      MISSREC_FIELD(checkpoint, keep, between(1, 1e6), "checkpoints kept"),
      MISSREC_FIELD(dist, timeout_s, positive(), "seconds a collective may take before the job aborts"),
      MISSREC_FIELD(dist, backend, any, "communicator backend"),
      MISSREC_FIELD(finetune, mode, any, "with or without item ID embeddings"),
      MISSREC_FIELD(finetune, patience, between(1, 1e9), "epochs without a better valid NDCG@10 before stopping"),
  };
}

#undef MISSREC_FIELD

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string describe(const Range& range) {
  std::string low = range.min_open ? "(" : "[";
  std::string high = range.max_open ? ")" : "]";
  const std::string max_text = range.max >= kIntMax ? "inf" : format_number(range.max);
  return low + format_number(range.min) + ", " + max_text + high;
}

bool within(const Range& range, double value) {
  if (range.min_open ? value <= range.min : value < range.min) return false;
  if (range.max_open ? value >= range.max : value > range.max) return false;
  return true;
}

}  // namespace

int choice_index(const std::vector<std::string>& names, const std::string& text, const std::string& where) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) return static_cast<int>(i);
  }
  std::string allowed;
  for (const std::string& name : names) allowed += (allowed.empty() ? "" : ", ") + name;
  throw_input_error(where, "expected one of " + allowed + ", got '" + text + "'");
}

std::string Config::run_dir() const { return run.dir.empty() ? "runs/" + run.name : run.dir; }

std::string describe_range(const Range& range) { return describe(range); }

const std::vector<FieldSpec>& config_fields() {
  static const std::vector<FieldSpec> fields = build_fields();
  return fields;
}

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> sections = [] {
    std::vector<std::string> names;
    for (const FieldSpec& field : config_fields()) {
      const std::string section = field.key.substr(0, field.key.find('.'));
      if (names.empty() || names.back() != section) names.push_back(section);
    }
    return names;
  }();
  return sections;
}

const FieldSpec* find_field(const std::string& key) {
  for (const FieldSpec& field : config_fields()) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

void validate_field(const FieldSpec& field, Config& config, const std::string& where) {
  const std::string at = where.empty() ? field.key : where + ": " + field.key;
  const FieldRef ref = field.ref(config);
  if (const auto* number = std::get_if<int64_t*>(&ref)) {
    if (!within(field.range, static_cast<double>(**number))) {
      throw_input_error(at, "expected an integer in " + describe(field.range) + ", got " + std::to_string(**number));
    }
  } else if (const auto* real = std::get_if<double*>(&ref)) {
    if (!std::isfinite(**real) || !within(field.range, **real)) {
      throw_input_error(at, "expected a number in " + describe(field.range) + ", got " + format_number(**real));
    }
  }
}

void validate_relations(const Config& config, const std::string& where) {
  const std::string prefix = where.empty() ? "" : where + ": ";
  if (config.model.hidden_size % config.model.n_heads != 0) {
    throw InputError(prefix + "model.hidden_size: " + std::to_string(config.model.hidden_size) +
                     " is not divisible by model.n_heads=" + std::to_string(config.model.n_heads));
  }
  if (config.model.n_layers % 2 != 0) {
    throw InputError(prefix +
                     "model.n_layers: expected an even number (encoder + decoder "
                     "layers), got " +
                     std::to_string(config.model.n_layers));
  }
  if (config.run.name.empty() || config.run.name.find('/') != std::string::npos) {
    throw InputError(prefix + "run.name: expected a non-empty name without '/', got '" + config.run.name + "'");
  }
}

}  // namespace missrec::runtime
