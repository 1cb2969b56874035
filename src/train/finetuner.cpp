#include "train/finetuner.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <cmath>
#include <fstream>
#include <sstream>

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
#include "train/training_loop.h"

namespace missrec::train {

namespace {

// Keys the per-rank dropout generators ("fine").
constexpr uint64_t kDropoutPurpose = 0x66696e65ULL;

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
  return request.pretrained.empty() ? ModelExport{} : read_model_export(request.pretrained);
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

// Fine-tuning as a TrainingTask: the downstream training split, the step against every
// item, validation NDCG@10 after each epoch; after the loop, the best model's test.
class Finetuner final : public TrainingTask {
 public:
  Finetuner(const runtime::Config& run_config, const FinetuneRequest& request, runtime::Communicator& comm)
      : request_(request),
        comm_(comm),
        device_(comm.device()),
        dataset_(open_downstream(request.data_dir)),
        pretrained_(read_pretrained(request)),
        config_(request.pretrained.empty() ? run_config
                                           : with_pretrained_shape(run_config, pretrained_, request.pretrained)),
        model_(downstream_model(config_, dataset_, pretrained_, request, device_)),
        features_(load_features(dataset_, config_, device_)),
        parameters_(*model_, FinetuneStep::scalar_count(comm.size())),
        adam_(parameters_, adam_options_of(config_.train)),
        sync_(parameters_, comm),
        loader_options_(finetune_loader_options(config_, dataset_, comm)),
        loader_(dataset_, loader_options_),
        step_(*model_, features_, parameters_, adam_, sync_, comm, step_settings()) {}

  // The configuration the run trains with (the model shape of the pretrained export).
  const runtime::Config& config() const { return config_; }
  TaskParts parts() override { return {*model_, features_, adam_, loader_}; }

  StepReport step(const data::Batch& batch, const data::InterestState& interests, bool stop_requested,
                  const data::Batch* next) override {
    return step_.run(batch, interests.interest_embeddings, stop_requested, next);
  }
  LossReport losses(const std::vector<double>& sums, int64_t steps) const override {
    return finetune_losses(sums, steps, config_.loss.gamma);
  }
  bool validates() const override { return true; }
  Validation validate(const data::InterestState& interests) override;

  void log_start() const;
  // Tests the best model (rank 0 reads it back and broadcasts it): test_metrics.json and
  // a "test" metrics line.
  void test(const std::string& best_path, int64_t best_epoch, MetricsFile& metrics);

 private:
  FinetuneStepSettings step_settings() const {
    FinetuneStepSettings settings;
    settings.items = dataset_.total_items();
    settings.gamma = config_.loss.gamma;
    settings.precision = config_.train.precision;
    return settings;
  }

  const FinetuneRequest& request_;
  runtime::Communicator& comm_;
  at::Device device_;
  data::Dataset dataset_;
  ModelExport pretrained_;
  runtime::Config config_;
  model::MissRec model_;
  model::ItemFeatures features_;
  ParameterSet parameters_;
  Adam adam_;
  GradientSync sync_;
  data::LoaderOptions loader_options_;
  data::Loader loader_;
  FinetuneStep step_;
};

Validation Finetuner::validate(const data::InterestState& interests) {
  const RankingMetrics valid =
      evaluate_split(*model_, features_, interests, dataset_, "valid", config_.model.max_seq_len, comm_);
  Validation validation;
  validation.score = valid.ndcg10();
  valid.add_to(validation.metrics, "valid_");
  std::ostringstream summary;
  summary << "valid recall@10 " << valid.recall[0] << " ndcg@10 " << valid.ndcg10();
  validation.summary = summary.str();
  return validation;
}

void Finetuner::log_start() const {
  LOG(INFO) << "fine-tuning on " << dataset_.dir() << " (" << dataset_.total_items() << " items, "
            << dataset_.samples("train") << " train samples, " << loader_.steps_per_epoch() << " steps of "
            << loader_options_.global_batch << " per epoch), mode " << runtime::name_of(config_.finetune.mode) << ", "
            << (request_.pretrained.empty()
                    ? std::string("from scratch")
                    : "from " + request_.pretrained + " (trm_model and position_embedding frozen)")
            << ", " << parameters_.numel() << " trainable values, " << comm_.size() << " ranks";
}

void Finetuner::test(const std::string& best_path, int64_t best_epoch, MetricsFile& metrics) {
  comm_.barrier();
  data::InterestState best_interests;
  if (comm_.rank() == 0) {
    const ModelExport best = read_native_export(best_path);
    load_parameters(*model_, best.parameters, best_path);
    best_interests = best.interests;
  }
  broadcast_module(*model_, comm_, 0);
  cluster::broadcast_interests(best_interests, dataset_.total_items() + 1, config_.model.hidden_size, comm_);
  const RankingMetrics test = evaluate_split(*model_, features_, best_interests.placed(device_), dataset_, "test",
                                             config_.model.max_seq_len, comm_);
  if (comm_.rank() == 0) {
    runtime::write_file_atomically(config_.run_dir() + "/test_metrics.json", test.json() + "\n");
    JsonLine line;
    line.add("kind", std::string("test")).add("best_epoch", best_epoch);
    test.add_to(line, "");
    metrics.write(line.add("users", test.users));
  }
  LOG(INFO) << "test (best epoch " << best_epoch << "): " << test.json() << "; written to " << config_.run_dir()
            << "/test_metrics.json";
}

}  // namespace

int run_finetuning(const runtime::Config& config, const FinetuneRequest& request, runtime::Communicator& comm) {
  check_resume_request(config, request.resume);
  if (config.data.feature_sharding == runtime::FeatureSharding::kSharded) {
    runtime::throw_input_error("data.feature_sharding",
                               "sharded applies to pretraining; fine-tuning scores every item on every rank and holds "
                               "the features replicated (set replicated or auto)");
  }
  Finetuner finetuner(config, request, comm);
  finetuner.log_start();
  TrainingLoop loop(finetuner.config(), finetuner, comm,
                    LoopOptions{"fine-tuning", kDropoutPurpose, config.finetune.patience});
  const int status = loop.run(request.resume);
  if (status != runtime::kExitOk) return status;
  if (loop.best_epoch() == 0) {
    LOG(WARNING) << "no epoch was validated (train.max_steps ended the run first): no best model to test";
    return status;
  }
  finetuner.test(loop.best_model_path(), loop.best_epoch(), loop.metrics());
  return status;
}

}  // namespace missrec::train
