#pragma once

#include <torch/torch.h>

#include "data/batch.h"
#include "model/missrec_model.h"
#include "train/adam.h"
#include "train/batch_upload.h"
#include "train/gradient_sync.h"
#include "train/parameter_set.h"
#include "train/placement.h"
#include "train/precision.h"
#include "train/step_clock.h"
#include "train/training_loop.h"

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

struct FinetuneStepSettings {
  int64_t items = 0;  // every item is a candidate
  double gamma = runtime::LossConfig{}.gamma;
  Precision precision = Precision::kFp32;
};

// The fine-tuning loss of step sums (FinetuneStep's layout) accumulated over `steps`
// steps: total = cross-entropy + gamma * reg, each the mean over the steps. The one place
// the loss is assembled from its parts.
LossReport finetune_losses(const std::vector<double>& sums, int64_t steps, double gamma);

// One fine-tuning step on a rank's slice of a global batch (of batch.global_size samples:
// the epoch's last batch may be smaller), the pretraining step's
// shape: the batch copied to the device (the next one on a side stream), the view's
// length-aware forward against every item, the model's finetune_loss, backward, one
// fused allreduce of gradients and scalars (the step's one host synchronisation), Adam.
// Throws (before the update) when the summed loss is not finite.
class FinetuneStep {
 public:
  FinetuneStep(model::MissRecImpl& model, const model::ItemFeatures& features, ParameterSet& parameters, Adam& adam,
               GradientSync& sync, runtime::Communicator& comm, FinetuneStepSettings settings);

  // The report's sums: kCrossEntropy (per sample of the global batch), kReg (summed
  // over the ranks), kStopFlag. `next`: as PretrainStep::run.
  StepReport run(const data::Batch& batch, const torch::Tensor& interest_embeddings, bool stop_requested,
                 const data::Batch* next = nullptr);

  enum Scalar : int64_t { kCrossEntropy, kReg, kStopFlag, kFixedScalars };
  // The scalars the gradient buffer must carry on `ranks` ranks (the next batch's
  // interest widths take two per rank).
  static int64_t scalar_count(int ranks) { return kFixedScalars + 2 * ranks; }

 private:
  void check_placement_once(const DeviceBatch& on_device, const torch::Tensor& interest_embeddings);

  model::MissRecImpl& model_;
  const model::ItemFeatures& features_;
  ParameterSet& parameters_;
  Adam& adam_;
  GradientSync& sync_;
  runtime::Communicator& comm_;
  FinetuneStepSettings settings_;
  StepClock clock_;
  BatchUploader uploader_;
  torch::Tensor all_ids_and_padding_;  // 0..N on the host (the candidates): adapt_items finds them without the device
  bool placement_checked_ = false;
};

}  // namespace missrec::train
