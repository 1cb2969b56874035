#include "train/finetuner.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cluster/interest_refresh.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/file_io.h"
#include "runtime/threads.h"
#include "train/adam.h"
#include "train/evaluation.h"
#include "train/export.h"
#include "train/finetune_step.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"
#include "train/precision.h"

namespace missrec::train {

namespace fs = std::filesystem;

namespace {

bool frozen_when_pretrained(const std::string& name) {
  return name.rfind("trm_model.", 0) == 0 || name.rfind("position_embedding.", 0) == 0;
}

// The run configuration with the model shape of the pretrained export (the
// architecture must match its weights); dropout, loss and training keys stay the run's.
runtime::Config with_pretrained_shape(runtime::Config config, const ModelExport& pretrained, const std::string& path) {
  const runtime::ModelConfig& theirs = pretrained.config.model;
  runtime::ModelConfig& ours = config.model;
  if (ours.hidden_size != theirs.hidden_size || ours.n_heads != theirs.n_heads || ours.n_layers != theirs.n_layers ||
      ours.inner_size != theirs.inner_size || ours.max_seq_len != theirs.max_seq_len ||
      ours.hidden_act != theirs.hidden_act) {
    LOG(WARNING) << "model shape taken from " << path << " (hidden_size " << theirs.hidden_size << ", n_heads "
                 << theirs.n_heads << ", n_layers " << theirs.n_layers << ", inner_size " << theirs.inner_size
                 << ", max_seq_len " << theirs.max_seq_len << ", " << runtime::name_of(theirs.hidden_act)
                 << "), not from the configuration";
  }
  ours.hidden_size = theirs.hidden_size;
  ours.n_heads = theirs.n_heads;
  ours.n_layers = theirs.n_layers;
  ours.inner_size = theirs.inner_size;
  ours.max_seq_len = theirs.max_seq_len;
  ours.hidden_act = theirs.hidden_act;
  ours.layer_norm_eps = theirs.layer_norm_eps;
  return config;
}

data::Dataset open_downstream(const std::string& dir) {
  data::Dataset dataset = data::Dataset::open(dir);
  for (const char* split : {"train", "valid", "test"}) {
    if (dataset.samples(split) == 0) {
      runtime::throw_input_error(
          dir, std::string("has no ") + split + " samples (a downstream dataset needs train, valid and test)");
    }
  }
  return dataset;
}

ModelExport read_pretrained(const FinetuneRequest& request) {
  return request.pretrained.empty() ? ModelExport{} : read_native_export(request.pretrained);
}

// The model of the run: from the pretrained export (its item embeddings, of another
// dataset, left out; trm_model and position_embedding frozen) or from scratch.
model::MissRec downstream_model(const runtime::Config& config, const data::Dataset& dataset,
                                const ModelExport& pretrained, const FinetuneRequest& request, at::Device device) {
  const bool transductive = config.finetune.mode == runtime::FinetuneMode::kTransductive;
  model::MissRec model = make_model(
      model_config_of(config, dataset.text_dim(), dataset.image_dim(), transductive ? dataset.total_items() : 0),
      static_cast<uint64_t>(config.run.seed), device);
  if (request.pretrained.empty()) return model;
  std::map<std::string, torch::Tensor> weights = pretrained.parameters;
  weights.erase("item_embedding.weight");
  load_parameters(*model, weights, request.pretrained, /*allow_missing=*/true);
  for (const auto& item : model->named_parameters()) {
    if (item.key() == "item_embedding.weight") continue;
    if (weights.count(item.key()) == 0) {
      runtime::throw_input_error(request.pretrained, "lacks parameter '" + item.key() + "'");
    }
    if (frozen_when_pretrained(item.key())) item.value().set_requires_grad(false);
  }
  return model;
}

// The training split's loader: batches of train.batch_size (at most the split's size,
// rounded down to a multiple of the ranks), the epoch's tail kept as a last, smaller
// batch as the public implementation does.
data::LoaderOptions finetune_loader_options(const runtime::Config& config, const data::Dataset& dataset,
                                            const runtime::Communicator& comm) {
  const int64_t fits = dataset.samples("train") / comm.size() * comm.size();
  data::LoaderOptions options =
      loader_options_of(config, "train", std::min<int64_t>(config.train.batch_size, fits), comm);
  options.keep_partial = true;
  return options;
}

// Shaped like the pretrainer: set up (constructor), then per epoch a refresh and the
// steps, validation keeping the best model, early stopping; the best model tested.
class Finetuner {
 public:
  Finetuner(const runtime::Config& run_config, const FinetuneRequest& request, runtime::Communicator& comm)
      : request_(request),
        comm_(comm),
        device_(comm.device()),
        dataset_(open_downstream(request.data_dir)),
        pretrained_(read_pretrained(request)),
        config_(request.pretrained.empty() ? run_config
                                           : with_pretrained_shape(run_config, pretrained_, request.pretrained)),
        run_dir_(config_.run_dir()),
        best_path_(run_dir_ + "/best.h5"),
        metrics_(comm.rank() == 0 ? run_dir_ + "/metrics.jsonl" : ""),
        model_(downstream_model(config_, dataset_, pretrained_, request, device_)),
        features_(load_features(dataset_, config_, device_)),
        parameters_(*model_),
        adam_(parameters_, adam_options_of(config_.train)),
        sync_(parameters_, comm, FinetuneStep::kScalars),
        loader_options_(finetune_loader_options(config_, dataset_, comm)),
        loader_(dataset_, loader_options_),
        step_(*model_, features_, parameters_, adam_, sync_, comm, step_settings()) {
    broadcast_module(*model_, comm_, 0);
    verify_same_on_all_ranks(module_checksum(*model_), "initial parameters", comm_);
    seed_rank_generators(static_cast<uint64_t>(config_.run.seed), 0x66696e65ULL, comm_.rank());
    create_run_directory(run_dir_, comm_);
  }

  int run();

 private:
  FinetuneStepSettings step_settings() const {
    FinetuneStepSettings settings;
    settings.items = dataset_.total_items();
    settings.precision = config_.train.precision;
    return settings;
  }

  struct EpochResult {
    double mean_cross_entropy = 0.0;
    double mean_reg = 0.0;
    int64_t steps = 0;
    int64_t samples = 0;
    double refresh_s = 0.0;
    double train_s = 0.0;
  };
  EpochResult train_epoch(int64_t epoch);
  // Validates, keeps the best model; returns true when early stopping ends the run.
  bool validate_and_keep_best(int64_t epoch, const EpochResult& trained);
  void test();

  const FinetuneRequest& request_;
  runtime::Communicator& comm_;
  at::Device device_;
  data::Dataset dataset_;
  ModelExport pretrained_;
  runtime::Config config_;
  std::string run_dir_;
  std::string best_path_;
  MetricsFile metrics_;
  model::MissRec model_;
  model::ItemFeatures features_;
  ParameterSet parameters_;
  Adam adam_;
  GradientSync sync_;
  data::LoaderOptions loader_options_;
  data::Loader loader_;
  FinetuneStep step_;
  cluster::InterestState interests_;
  std::shared_ptr<data::InterestTables> interest_tables_;
  double best_ndcg_ = -1.0;
  int64_t best_epoch_ = 0;
  int64_t epochs_without_gain_ = 0;
  int64_t global_step_ = 0;
};

Finetuner::EpochResult Finetuner::train_epoch(int64_t epoch) {
  EpochResult result;
  Stopwatch clock;
  model_->eval();
  interests_ = cluster::refresh_interests(*model_, features_, config_.cluster, comm_);
  interests_.interest_embeddings = interests_.interest_embeddings.to(device_);
  interests_.text_interest = interests_.text_interest.to(at::kCPU);
  interests_.image_interest = interests_.image_interest.to(at::kCPU);
  interest_tables_ = std::make_shared<data::InterestTables>();
  interest_tables_->text_interest = interests_.text_interest;
  interest_tables_->image_interest = interests_.image_interest;
  result.refresh_s = clock.lap();
  model_->train();
  loader_.start_epoch(epoch, 0, interest_tables_);
  double cross_entropy_sum = 0.0;
  double reg_sum = 0.0;
  std::optional<data::Batch> batch = loader_.next();
  while (batch) {
    data::pad_interests_globally(*batch, comm_);
    result.samples += batch->global_size;
    std::optional<data::Batch> next = loader_.next();
    const FinetuneStepResult step = step_.run(*batch, interests_.interest_embeddings, next ? &*next : nullptr);
    batch = std::move(next);
    ++global_step_;
    ++result.steps;
    cross_entropy_sum += step.cross_entropy;
    reg_sum += step.reg;
    if (comm_.rank() == 0) {
      metrics_.write(JsonLine()
                         .add("kind", std::string("step"))
                         .add("epoch", epoch + 1)
                         .add("step", result.steps)
                         .add("global_step", global_step_)
                         .add("loss", step.loss)
                         .add("cross_entropy", step.cross_entropy)
                         .add("reg", step.reg));
    }
  }
  const double steps = static_cast<double>(std::max<int64_t>(result.steps, 1));
  result.mean_cross_entropy = cross_entropy_sum / steps;
  result.mean_reg = reg_sum / steps;
  result.train_s = clock.lap();
  return result;
}

bool Finetuner::validate_and_keep_best(int64_t epoch, const EpochResult& trained) {
  Stopwatch clock;
  const RankingMetrics valid = evaluate_split(*model_, features_, interests_.interest_embeddings, *interest_tables_,
                                              dataset_, "valid", config_.model.max_seq_len, comm_);
  const double valid_s = clock.lap();
  // Strictly better validation NDCG@10 (unrounded): a tie keeps the earlier epoch, and a
  // plateau counts towards the patience (docs/fine-tuning.md compares the public rule).
  const bool improved = valid.ndcg10() > best_ndcg_;
  if (improved) {
    best_ndcg_ = valid.ndcg10();
    best_epoch_ = epoch + 1;
    epochs_without_gain_ = 0;
    if (comm_.rank() == 0) {
      write_native_export(current_export(*model_, config_, interests_, epoch + 1, global_step_), best_path_);
    }
  } else {
    ++epochs_without_gain_;
  }
  if (comm_.rank() == 0) {
    JsonLine line;
    line.add("kind", std::string("epoch"))
        .add("epoch", epoch + 1)
        .add("steps", trained.steps)
        .add("loss", trained.mean_cross_entropy + config_.loss.gamma * trained.mean_reg)
        .add("cross_entropy", trained.mean_cross_entropy);
    valid.add_to(line, "valid_");
    metrics_.write(line.add("best_epoch", best_epoch_)
                       .add("refresh_s", trained.refresh_s)
                       .add("train_s", trained.train_s)
                       .add("valid_s", valid_s));
  }
  const double samples = static_cast<double>(trained.samples);
  LOG(INFO) << "epoch " << epoch + 1 << "/" << config_.train.epochs << ": loss " << trained.mean_cross_entropy
            << ", valid recall@10 " << valid.recall[0] << " ndcg@10 " << valid.ndcg10() << (improved ? " (best)" : "")
            << " | " << static_cast<int64_t>(samples / std::max(trained.train_s, 1e-9)) << " samples/s, refresh "
            << trained.refresh_s << " s, validation " << valid_s << " s";
  if (epochs_without_gain_ >= config_.finetune.patience) {
    LOG(INFO) << "early stop: no better validation NDCG@10 for " << epochs_without_gain_ << " epochs (best: epoch "
              << best_epoch_ << ", " << best_ndcg_ << ")";
    return true;
  }
  return false;
}

// Test with the best model (rank 0 reads it back and broadcasts it).
void Finetuner::test() {
  comm_.barrier();
  const int64_t items = dataset_.total_items();
  cluster::InterestState best_interests;
  if (comm_.rank() == 0) {
    const ModelExport best = read_native_export(best_path_);
    load_parameters(*model_, best.parameters, best_path_);
    best_interests.interest_embeddings = best.interest_embeddings;
    best_interests.text_interest = best.text_interest;
    best_interests.image_interest = best.image_interest;
  }
  broadcast_module(*model_, comm_, 0);
  cluster::broadcast_interests(best_interests, items + 1, config_.model.hidden_size, comm_);
  const data::InterestTables best_tables{best_interests.text_interest, best_interests.image_interest};
  const RankingMetrics test = evaluate_split(*model_, features_, best_interests.interest_embeddings.to(device_),
                                             best_tables, dataset_, "test", config_.model.max_seq_len, comm_);
  if (comm_.rank() == 0) {
    runtime::write_file_atomically(run_dir_ + "/test_metrics.json", test.json() + "\n");
    JsonLine line;
    line.add("kind", std::string("test")).add("best_epoch", best_epoch_);
    test.add_to(line, "");
    metrics_.write(line.add("users", test.users));
  }
  LOG(INFO) << "test (best epoch " << best_epoch_ << "): " << test.json() << "; written to " << run_dir_
            << "/test_metrics.json";
}

int Finetuner::run() {
  LOG(INFO) << "fine-tuning on " << dataset_.dir() << " (" << dataset_.total_items() << " items, "
            << dataset_.samples("train") << " train samples, " << loader_.steps_per_epoch() << " steps of "
            << loader_options_.global_batch << " per epoch), mode " << runtime::name_of(config_.finetune.mode) << ", "
            << (request_.pretrained.empty()
                    ? std::string("from scratch")
                    : "from " + request_.pretrained + " (trm_model and position_embedding frozen)")
            << ", " << parameters_.numel() << " trainable values, " << comm_.size() << " ranks";
  for (int64_t epoch = 0; epoch < config_.train.epochs; ++epoch) {
    const EpochResult trained = train_epoch(epoch);
    if (validate_and_keep_best(epoch, trained)) break;
  }
  test();
  return runtime::kExitOk;
}

}  // namespace

int run_finetuning(const runtime::Config& config, const FinetuneRequest& request, runtime::Communicator& comm) {
  Finetuner finetuner(config, request, comm);
  return finetuner.run();
}

}  // namespace missrec::train
