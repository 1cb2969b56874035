#pragma once

#include <string>

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

struct FinetuneRequest {
  std::string data_dir;    // downstream dataset (train/valid/test splits)
  std::string pretrained;  // native export; empty: train from scratch
  std::string resume;      // "", "latest" or a checkpoint directory
};

// Downstream fine-tuning on every rank of `comm`: finetune.mode inductive
// (text+image) or transductive (adds item ID embeddings); from a pretrained export
// trm_model.* and position_embedding are frozen; a DPC-KNN refresh each epoch;
// loss CE(l(z, all items)/tau, target) + gamma*reg; validation NDCG@10 each epoch with
// early stopping after finetune.patience epochs; the best model kept as
// <run.dir>/best.h5 (native export) and its test metrics written to
// <run.dir>/test_metrics.json. Checkpoints, resume and stop requests as pretraining
// (TrainingLoop): the checkpoints carry the best model and the early-stopping state.
// Returns the exit status (runtime::kExitStoppedForRequeue after a stop request).
int run_finetuning(const runtime::Config& config, const FinetuneRequest& request, runtime::Communicator& comm);

}  // namespace missrec::train
