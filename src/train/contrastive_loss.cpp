#include "train/contrastive_loss.h"

#include <glog/logging.h>

#include "model/loss_formula.h"
#include "runtime/comm.h"

namespace missrec::train {

namespace F = torch::nn::functional;

namespace {

class AllGatherRows : public torch::autograd::Function<AllGatherRows> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& local,
                               int64_t comm_address) {
    ctx->saved_data["comm"] = comm_address;
    auto* comm = reinterpret_cast<runtime::Communicator*>(comm_address);
    return comm->allgather(local.contiguous());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* comm = reinterpret_cast<runtime::Communicator*>(ctx->saved_data["comm"].toInt());
    return {comm->reduce_scatter(grads[0].contiguous(), runtime::ReduceOp::kSum), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_gather_rows(const torch::Tensor& local, runtime::Communicator& comm) {
  if (comm.size() == 1) return local;
  return AllGatherRows::apply(local, reinterpret_cast<int64_t>(&comm));
}

RankLoss pretrain_rank_loss(model::MissRecImpl& model, const model::SequenceOutput& view,
                            const model::SequenceOutput& aug, const std::pair<torch::Tensor, torch::Tensor>& targets,
                            int64_t global_batch, Negatives negatives, runtime::Communicator& comm) {
  const int64_t rows = view.z.size(0);
  const int64_t hidden = view.z.size(1);
  const auto& [item_text, item_image] = targets;
  // One gather for the three candidate blocks.
  torch::Tensor candidates = torch::cat({item_text, item_image, aug.z}, 1);
  int64_t first_label = 0;
  if (negatives == Negatives::kGlobal && comm.size() > 1) {
    candidates = all_gather_rows(candidates, comm);
    first_label = comm.rank() * rows;
  }
  const torch::Tensor all_text = candidates.narrow(1, 0, hidden);
  const torch::Tensor all_image = candidates.narrow(1, hidden, hidden);
  const torch::Tensor all_aug = candidates.narrow(1, 2 * hidden, hidden);
  const torch::Tensor labels = torch::arange(first_label, first_label + rows,
                                             torch::TensorOptions().dtype(torch::kLong).device(view.z.device()));
  const double tau = model.config().temperature;
  const auto none = F::CrossEntropyFuncOptions().reduction(torch::kNone);
  const torch::Tensor seq_item = F::cross_entropy(model.logits(view.z, all_text, all_image) / tau, labels, none);
  // Float32 similarities also under bf16 autocast (see MissRecImpl::logits).
  const torch::Tensor sequence_similarities = [&] {
    const c10::impl::ExcludeDispatchKeyGuard full_precision(c10::autocast_dispatch_keyset);
    return torch::matmul(view.z, all_aug.t());
  }();
  const torch::Tensor seq_seq = F::cross_entropy(sequence_similarities / tau, labels, none);

  RankLoss loss;
  const double batch = static_cast<double>(global_batch);
  const torch::Tensor seq_item_sum = seq_item.sum();
  const torch::Tensor seq_seq_sum = seq_seq.sum();
  loss.total = model::pretrain_total(seq_item_sum / batch, seq_seq_sum / batch, view.reg, aug.reg,
                                     model.config().lambda, model.config().gamma);
  loss.seq_item_rows = seq_item.detach();
  loss.parts =
      torch::stack({seq_item_sum, seq_seq_sum, view.reg.reshape({}), aug.reg.reshape({})}).detach().to(torch::kFloat);
  return loss;
}

}  // namespace missrec::train
