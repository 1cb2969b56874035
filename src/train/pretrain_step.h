#pragma once

#include <torch/torch.h>

#include <vector>

#include "data/batch.h"
#include "model/missrec_model.h"
#include "train/adam.h"
#include "train/batch_upload.h"
#include "train/contrastive_loss.h"
#include "train/feature_shards.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/placement.h"
#include "train/precision.h"
#include "train/step_clock.h"
#include "train/training_loop.h"

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// Scalars summed with the gradients each step: loss parts, the stop flag, then the
// per-domain sums of L_si and sample counts (2 x domains).
// The loss parts lead, in RankLoss's order.
enum StepScalar : int64_t {
  kSeqItem = RankLoss::kSeqItemSum,
  kSeqSeq = RankLoss::kSeqSeqSum,
  kReg = RankLoss::kReg,
  kRegAug = RankLoss::kRegAug,
  kStopFlag = RankLoss::kParts,
  kFixedScalars
};

struct StepSettings {
  int64_t global_batch = 0;
  int64_t domains = 1;
  Negatives negatives = Negatives::kGlobal;
  double lambda = runtime::LossConfig{}.lambda;
  double gamma = runtime::LossConfig{}.gamma;
  bool length_aware = true;  // false: the padded computation (benchmarks compare)
  Precision precision = Precision::kFp32;
};

// The pretraining loss of step sums (StepScalar layout) accumulated over `steps` steps:
// total = L_si + lambda * L_ss + gamma * (reg + reg_aug), with L_si and L_ss per sample
// of the global batch and the regularisers per step. The one place the loss is assembled
// from its parts (the step's finiteness check, metrics lines and progress use it).
LossReport pretrain_losses(const std::vector<double>& sums, int64_t steps, const StepSettings& settings);

// One pretraining step on a rank's slice of a global batch: both views'
// forward (length-aware), the rank's share of the pretraining loss, backward, one fused
// allreduce of gradients and scalars, and Adam. Throws (before the update) when the
// summed loss is not finite, naming the loss part. The host waits for the device once
// per step, to read the summed scalars; everything else is queued.
class PretrainStep {
 public:
  // `shards`, when given, holds the features sharded: each step fetches its batch's
  // rows from them (`features` is then this rank's share, unused by the step).
  PretrainStep(model::MissRecImpl& model, const model::ItemFeatures& features, ParameterSet& parameters, Adam& adam,
               GradientSync& sync, runtime::Communicator& comm, StepSettings settings, FeatureShards* shards = nullptr);

  // `next`, when given, is the batch of the following step: its local interest widths
  // travel with this step's scalars, so that the next step needs no exchange of its own
  // (pad it with the widths returned).
  // The report's sums are the StepScalar layout (loss parts, stop flag, per-domain sums).
  StepReport run(const data::Batch& batch, const torch::Tensor& interest_embeddings, bool stop_requested,
                 const data::Batch* next = nullptr);

  // The scalars GradientSync must carry for `domains` domains on `ranks` ranks.
  static int64_t scalar_count(int64_t domains, int ranks) { return kFixedScalars + 2 * domains + 2 * ranks; }

 private:
  // Both views' forward and this rank's loss, in the step's precision, reading the
  // item features from `features` (the replicated tables, or this batch's fetched rows).
  RankLoss forward(const data::Batch& batch, const model::ItemFeatures& features, const model::SequenceInput& view,
                   const model::SequenceInput& aug, const torch::Tensor& pos_items,
                   const torch::Tensor& interest_embeddings);
  // Every tensor the step touches, by name, for the placement check of the first step.
  NamedTensors touched_tensors(const model::SequenceInput& view, const model::SequenceInput& aug,
                               const torch::Tensor& pos_items, const torch::Tensor& interest_embeddings) const;

  model::MissRecImpl& model_;
  const model::ItemFeatures& features_;
  FeatureShards* shards_;
  ParameterSet& parameters_;
  Adam& adam_;
  GradientSync& sync_;
  runtime::Communicator& comm_;
  StepSettings settings_;
  StepClock clock_;
  BatchUploader uploader_;
  bool placement_checked_ = false;
};

}  // namespace missrec::train
