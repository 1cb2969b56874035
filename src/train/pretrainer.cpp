#include "train/pretrainer.h"

#include <glog/logging.h>

#include <memory>

#include "data/dataset.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "train/adam.h"
#include "train/feature_shards.h"
#include "train/gradient_sync.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"
#include "train/pretrain_step.h"
#include "train/training_loop.h"

namespace missrec::train {

namespace {

// Keys the per-rank dropout generators ("drop").
constexpr uint64_t kDropoutPurpose = 0x64726f70ULL;

// Pretraining as a TrainingTask: the mixed domains' loader, the two-view step with the
// contrastive loss, and the loss parts with each domain's L_si.
class Pretrainer final : public TrainingTask {
 public:
  Pretrainer(const runtime::Config& config, runtime::Communicator& comm)
      : config_(config),
        comm_(comm),
        device_(comm.device()),
        dataset_(data::Dataset::open(config.data.dir)),
        shards_(shard_features(config.data, dataset_, comm.size())
                    ? std::make_unique<FeatureShards>(dataset_, feature_dtype_of(config.data), comm)
                    : nullptr),
        features_(shards_ ? shards_->own() : load_features(dataset_, config, device_)),
        model_(make_model(model_config_of(config, dataset_.text_dim(), dataset_.image_dim()),
                          static_cast<uint64_t>(config.run.seed), device_)),
        parameters_(*model_, PretrainStep::scalar_count(static_cast<int64_t>(dataset_.domains().size()), comm.size())),
        adam_(parameters_, adam_options_of(config.train)),
        sync_(parameters_, comm),
        loader_(dataset_, loader_options_of(config, "train", config.train.batch_size, comm)),
        step_(*model_, features_, parameters_, adam_, sync_, comm, step_settings(), shards_.get()) {}

  TaskParts parts() override { return {*model_, features_, adam_, loader_}; }

  StepReport step(const data::Batch& batch, const data::InterestState& interests, bool stop_requested,
                  const data::Batch* next) override {
    return step_.run(batch, interests.interest_embeddings, stop_requested, next);
  }

  LossReport losses(const std::vector<double>& sums, int64_t steps) const override {
    LossReport report = pretrain_losses(sums, steps, step_settings());
    const size_t domains = dataset_.domains().size();
    JsonLine domain_losses;
    for (size_t d = 0; d < domains; ++d) {
      const double count = sums[kFixedScalars + domains + d];
      if (count > 0) domain_losses.add(dataset_.domains()[d].name, sums[kFixedScalars + d] / count);
    }
    report.extra.add("domain_seq_item", domain_losses);
    return report;
  }

  void log_start() const {
    LOG(INFO) << "pretraining on " << dataset_.dir() << ": " << dataset_.domains().size() << " domains, "
              << dataset_.total_items() << " items, " << loader_.samples_per_epoch() << " train samples; "
              << loader_.steps_per_epoch() << " steps of " << config_.train.batch_size << " per epoch ("
              << loader_.dropped_per_epoch() << " samples dropped per epoch), " << comm_.size() << " ranks on "
              << comm_.backend_name() << ", negatives " << runtime::name_of(config_.contrastive.negatives)
              << ", gradient buffer " << sync_.bytes() / 1e6 << " MB, item features "
              << (shards_ ? "sharded (" + std::to_string(features_.text.size(0)) + " rows on rank 0, " : "replicated (")
              << feature_bytes(features_) << " bytes)"
              << "; run directory " << config_.run_dir();
  }

 private:
  StepSettings step_settings() const {
    StepSettings settings;
    settings.global_batch = config_.train.batch_size;
    settings.domains = static_cast<int64_t>(dataset_.domains().size());
    settings.negatives = config_.contrastive.negatives;
    settings.lambda = config_.loss.lambda;
    settings.gamma = config_.loss.gamma;
    settings.precision = config_.train.precision;
    return settings;
  }

  const runtime::Config& config_;
  runtime::Communicator& comm_;
  at::Device device_;
  data::Dataset dataset_;
  std::unique_ptr<FeatureShards> shards_;  // null: features replicated
  model::ItemFeatures features_;           // every item's, or this rank's share
  model::MissRec model_;
  ParameterSet parameters_;
  Adam adam_;
  GradientSync sync_;
  data::Loader loader_;
  PretrainStep step_;
};

}  // namespace

int run_pretraining(const runtime::Config& config, const PretrainRequest& request, runtime::Communicator& comm) {
  check_resume_request(config, request.resume);
  Pretrainer pretrainer(config, comm);
  pretrainer.log_start();
  TrainingLoop loop(config, pretrainer, comm, LoopOptions{"pretraining", kDropoutPurpose, 0});
  return loop.run(request.resume);
}

}  // namespace missrec::train
