#pragma once

#include <torch/torch.h>

#include "model/missrec_model.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// All-gather of equal-size row blocks [b, ...] -> [P*b, ...] whose backward hands each
// rank the summed gradient of its own rows (a reduce-scatter), so a loss computed on
// gathered rows trains their owners (SPEC §3.5).
torch::Tensor all_gather_rows(const torch::Tensor& local, runtime::Communicator& comm);

enum class Negatives { kGlobal, kLocal };

// This rank's part of the pretraining loss of one global batch (SPEC §3.5). The parts
// are scaled so that their sum over the ranks is the loss one rank computes on the whole
// global batch: cross-entropy rows are summed and divided by the global batch size, and
// the regulariser (a sum over samples) is this rank's share. With global negatives the
// candidates are every rank's targets and augmented vectors; with local ones, this
// rank's only.
struct RankLoss {
  torch::Tensor total;          // differentiable
  torch::Tensor seq_item_rows;  // [b] per-sample L_si (detached), for per-domain logging
  double seq_item_sum = 0.0;    // sums over this rank's rows
  double seq_seq_sum = 0.0;
  double reg = 0.0;
  double reg_aug = 0.0;
};

// `targets` are the normalised text and image vectors of this rank's targets
// (MissRecImpl::item_vectors).
RankLoss pretrain_rank_loss(model::MissRecImpl& model, const model::SequenceOutput& view,
                            const model::SequenceOutput& aug,
                            const std::pair<torch::Tensor, torch::Tensor>& targets,
                            int64_t global_batch, Negatives negatives, runtime::Communicator& comm);

}  // namespace missrec::train
