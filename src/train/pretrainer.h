#pragma once

#include <string>

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

struct PretrainRequest {
  std::string resume;  // "", "latest" or a checkpoint directory
};

// The pretraining job on every rank of `comm`: per epoch a DPC-KNN interest
// refresh, then the global batches of the mixed domains with both views, the loss of
// the contrastive loss (global or local negatives), backward, one fused gradient allreduce and
// Adam; progress and metrics.jsonl on rank 0; checkpoints. Returns the exit
// status: 0 when the run finished, runtime::kExitStoppedForRequeue when SIGTERM/SIGUSR1
// stopped it after a checkpoint.
int run_pretraining(const runtime::Config& config, const PretrainRequest& request, runtime::Communicator& comm);

}  // namespace missrec::train
