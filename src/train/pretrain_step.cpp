#include "train/pretrain_step.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/comm.h"
#include "runtime/fault_injection.h"
#include "runtime/threads.h"

namespace missrec::train {

namespace {

model::SequenceInput to_input(const data::BatchView& view, const at::Tensor& text_aug_mask,
                              const at::Device& device) {
  model::SequenceInput input;
  input.item_seq = view.item_seq.to(device);
  input.item_length = view.item_length.to(device);
  input.interest_seq = view.interest_seq.to(device);
  if (text_aug_mask.defined()) input.text_aug_mask = text_aug_mask.to(device);
  return input;
}

}  // namespace

PretrainStep::PretrainStep(model::MissRecImpl& model, const model::ItemFeatures& features,
                           ParameterSet& parameters, Adam& adam, GradientSync& sync,
                           runtime::Communicator& comm, StepSettings settings)
    : model_(model), features_(features), parameters_(parameters), adam_(adam), sync_(sync), comm_(comm),
      settings_(settings) {}

StepResult PretrainStep::run(const data::Batch& batch, const torch::Tensor& interest_embeddings,
                             bool stop_requested) {
  const at::Device device = comm_.device();
  const auto sync_device = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  const runtime::ScopedIntraOpThreads one_intra_op_thread(device.is_cpu() ? 1 : at::get_num_threads());
  StepResult result;
  Stopwatch clock;
  for (const auto& entry : parameters_.entries()) entry.tensor.mutable_grad() = torch::Tensor();
  const model::SequenceInput view = to_input(batch.view, at::Tensor(), device);
  const model::SequenceInput aug = to_input(batch.aug, batch.text_aug_mask, device);
  const at::Tensor pos_items = batch.pos_item.to(device);
  model::SequenceOutput view_out;
  model::SequenceOutput aug_out;
  std::pair<torch::Tensor, torch::Tensor> targets;
  if (settings_.length_aware) {
    const model::AdaptedItems adapted =
        model_.adapt_items({view.item_seq, aug.item_seq, pos_items}, features_, aug.item_seq, aug.text_aug_mask);
    view_out = model_.encode_by_length(view, adapted, interest_embeddings);
    aug_out = model_.encode_by_length(aug, adapted, interest_embeddings);
    targets = model_.item_vectors(pos_items, adapted);
  } else {
    view_out = model_.encode(view, features_, interest_embeddings);
    aug_out = model_.encode(aug, features_, interest_embeddings);
    targets = model_.item_vectors(pos_items, features_);
  }
  const RankLoss loss = pretrain_rank_loss(model_, view_out, aug_out, targets, settings_.global_batch,
                                           settings_.negatives, comm_);
  sync_device();
  result.times.forward = clock.lap();
  loss.total.backward();
  sync_device();
  result.times.backward = clock.lap();

  const size_t domains = static_cast<size_t>(settings_.domains);
  std::vector<double> scalars(kFixedScalars + 2 * domains, 0.0);
  scalars[kSeqItem] = loss.seq_item_sum;
  int64_t poisoned_step = -1;
  if (runtime::fault_armed("nan-loss", &poisoned_step) && poisoned_step == adam_.steps() &&
      comm_.rank() == std::min(1, comm_.size() - 1)) {
    scalars[kSeqItem] = std::nan("");
  }
  scalars[kSeqSeq] = loss.seq_seq_sum;
  scalars[kReg] = loss.reg;
  scalars[kRegAug] = loss.reg_aug;
  scalars[kStopFlag] = stop_requested ? 1.0 : 0.0;
  const at::Tensor domain = batch.domain.to(at::kLong);
  const at::Tensor rows = loss.seq_item_rows.to(at::kCPU, at::kDouble);
  const int64_t* d = domain.data_ptr<int64_t>();
  const double* r = rows.data_ptr<double>();
  for (int64_t i = 0; i < domain.numel(); ++i) {
    scalars[kFixedScalars + static_cast<size_t>(d[i])] += r[i];
    scalars[kFixedScalars + domains + static_cast<size_t>(d[i])] += 1.0;
  }
  result.sums = sync_.allreduce(scalars);
  result.times.comm = clock.lap();

  const double batch_size = static_cast<double>(settings_.global_batch);
  const std::vector<double>& sums = result.sums;
  result.loss = sums[kSeqItem] / batch_size + settings_.lambda * sums[kSeqSeq] / batch_size +
                settings_.gamma * (sums[kReg] + sums[kRegAug]);
  if (!std::isfinite(result.loss)) {
    const char* part = !std::isfinite(sums[kSeqItem])  ? "seq_item (L_si)"
                       : !std::isfinite(sums[kSeqSeq]) ? "seq_seq (L_ss)"
                                                        : "interest regulariser";
    throw std::runtime_error("non-finite loss at epoch " + std::to_string(batch.epoch + 1) + ", step " +
                             std::to_string(batch.step) + " (global step " + std::to_string(adam_.steps()) +
                             ", samples at epoch positions " + std::to_string(batch.step * settings_.global_batch) +
                             ".." + std::to_string((batch.step + 1) * settings_.global_batch - 1) + "), in " + part +
                             "; parameters not updated, the last checkpoint is kept");
  }
  adam_.step();
  sync_device();
  result.times.optimizer = clock.lap();
  return result;
}

}  // namespace missrec::train
