#pragma once

#include <torch/torch.h>

#include "model/missrec_model.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// All-gather of equal-size row blocks [b, ...] -> [P*b, ...] whose backward hands each
// rank the summed gradient of its own rows (a reduce-scatter), so a loss computed on
// gathered rows trains their owners.
torch::Tensor all_gather_rows(const torch::Tensor& local, runtime::Communicator& comm);

using runtime::Negatives;

// This rank's part of the pretraining loss of one global batch. The parts
// are scaled so that their sum over the ranks is the loss one rank computes on the whole
// global batch: cross-entropy rows are summed and divided by the global batch size, and
// the regulariser (a sum over samples) is this rank's share. With global negatives the
// candidates are every rank's targets and augmented vectors; with local ones, this
// rank's only.
// The parts stay on the device: reading them is a host synchronisation, which the step
// does once, after summing them over the ranks.
struct RankLoss {
  enum Part : int64_t { kSeqItemSum, kSeqSeqSum, kReg, kRegAug, kParts };
  torch::Tensor total;          // differentiable
  torch::Tensor seq_item_rows;  // [b] per-sample L_si (detached), for per-domain logging
  torch::Tensor parts;          // [kParts] float32, detached: sums over this rank's rows, regularisers
};

// `targets` are the normalised text and image vectors of this rank's targets
// (MissRecImpl::item_vectors).
RankLoss pretrain_rank_loss(model::MissRecImpl& model, const model::SequenceOutput& view,
                            const model::SequenceOutput& aug, const std::pair<torch::Tensor, torch::Tensor>& targets,
                            int64_t global_batch, Negatives negatives, runtime::Communicator& comm);

}  // namespace missrec::train
