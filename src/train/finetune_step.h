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

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

struct FinetuneStepSettings {
  int64_t items = 0;  // every item is a candidate
  Precision precision = Precision::kFp32;
};

struct FinetuneStepResult {
  double loss = 0.0;           // the global-batch loss
  double cross_entropy = 0.0;  // its cross-entropy part, per sample
  double reg = 0.0;            // the interest regulariser (summed over the ranks)
};

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

  FinetuneStepResult run(const data::Batch& batch, const torch::Tensor& interest_embeddings,
                         const data::Batch* next = nullptr);

  enum Scalar : int64_t { kCrossEntropy, kReg, kScalars };

 private:
  model::MissRecImpl& model_;
  const model::ItemFeatures& features_;
  ParameterSet& parameters_;
  Adam& adam_;
  GradientSync& sync_;
  runtime::Communicator& comm_;
  FinetuneStepSettings settings_;
  BatchUploader uploader_;
  torch::Tensor all_ids_and_padding_;  // 0..N on the host (the candidates): adapt_items finds them without the device
  bool placement_checked_ = false;
};

}  // namespace missrec::train
