#include "train/pretrain_step.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "model/loss_formula.h"
#include "runtime/comm.h"
#include "runtime/fault_injection.h"

namespace missrec::train {

PretrainStep::PretrainStep(model::MissRecImpl& model, const model::ItemFeatures& features, ParameterSet& parameters,
                           Adam& adam, GradientSync& sync, runtime::Communicator& comm, StepSettings settings,
                           FeatureShards* shards)
    : model_(model),
      features_(features),
      shards_(shards),
      parameters_(parameters),
      adam_(adam),
      sync_(sync),
      comm_(comm),
      settings_(settings),
      clock_(comm.device()),
      uploader_(comm.device()) {}

NamedTensors PretrainStep::touched_tensors(const model::SequenceInput& view, const model::SequenceInput& aug,
                                           const torch::Tensor& pos_items,
                                           const torch::Tensor& interest_embeddings) const {
  NamedTensors tensors = {{"features.text", features_.text},         {"features.image", features_.image},
                          {"features.text_aug", features_.text_aug}, {"interest_embeddings", interest_embeddings},
                          {"gradient buffer", sync_.buffer()},       {"batch.pos_item", pos_items}};
  for (const auto& [prefix, input] : {std::pair{"batch.view.", &view}, std::pair{"batch.aug.", &aug}}) {
    add_named(tensors, prefix,
              {{"item_seq", input->item_seq},
               {"item_length", input->item_length},
               {"interest_seq", input->interest_seq},
               {"text_aug_mask", input->text_aug_mask}});
  }
  add_training_state(tensors, model_, adam_);
  return tensors;
}

namespace {

// A batch's place in the run, and the item ids whose feature rows its step reads.
int64_t batch_key(const data::Batch& batch) { return (batch.epoch << 32) + batch.step; }

std::vector<torch::Tensor> batch_ids(const data::Batch& batch) {
  return {batch.view.item_seq, batch.aug.item_seq, batch.pos_item};
}

}  // namespace

RankLoss PretrainStep::forward(const data::Batch& batch, const model::ItemFeatures& features,
                               const model::SequenceInput& view, const model::SequenceInput& aug,
                               const torch::Tensor& pos_items, const torch::Tensor& interest_embeddings) {
  const MixedPrecisionScope mixed_precision(settings_.precision, comm_.device());
  model::SequenceOutput view_out;
  model::SequenceOutput aug_out;
  std::pair<torch::Tensor, torch::Tensor> targets;
  if (settings_.length_aware) {
    // The batch's own (host) ids: the distinct ids are found without waiting for the device.
    const model::AdaptedItems adapted = model_.adapt_items({batch.view.item_seq, batch.aug.item_seq, batch.pos_item},
                                                           features, batch.aug.item_seq, batch.text_aug_mask);
    view_out = model_.encode_by_length(view, adapted, interest_embeddings);
    aug_out = model_.encode_by_length(aug, adapted, interest_embeddings);
    targets = model_.item_vectors(pos_items, adapted);
  } else {
    view_out = model_.encode(view, features, interest_embeddings);
    aug_out = model_.encode(aug, features, interest_embeddings);
    targets = model_.item_vectors(pos_items, features);
  }
  return pretrain_rank_loss(model_, view_out, aug_out, targets, settings_.global_batch, settings_.negatives, comm_);
}

LossReport pretrain_losses(const std::vector<double>& sums, int64_t steps, const StepSettings& settings) {
  const double step_count = static_cast<double>(std::max<int64_t>(steps, 1));
  const double samples = step_count * static_cast<double>(settings.global_batch);
  LossReport report;
  const double seq_item = sums[kSeqItem] / samples;
  const double seq_seq = sums[kSeqSeq] / samples;
  const double reg = sums[kReg] / step_count;
  const double reg_aug = sums[kRegAug] / step_count;
  report.total = model::pretrain_total(seq_item, seq_seq, reg, reg_aug, settings.lambda, settings.gamma);
  report.parts = {{"seq_item", seq_item}, {"seq_seq", seq_seq}, {"reg", reg}, {"reg_aug", reg_aug}};
  return report;
}

StepReport PretrainStep::run(const data::Batch& batch, const torch::Tensor& interest_embeddings, bool stop_requested,
                             const data::Batch* next) {
  const at::Device device = comm_.device();
  clock_.start();
  parameters_.zero_gradients();
  const DeviceBatch on_device = uploader_.take(batch);
  // The next batch's copy runs on the side stream while this step's kernels run.
  if (next != nullptr) uploader_.prefetch(*next);
  const model::SequenceInput& view = on_device.view;
  const model::SequenceInput& aug = on_device.aug;
  const at::Tensor& pos_items = on_device.pos_item;
  if (!placement_checked_) {
    check_placement(touched_tensors(view, aug, pos_items, interest_embeddings), device, "pretraining step");
    placement_checked_ = true;
  }
  // Sharded features: this step's rows from their owners (prefetched while the previous
  // step ran, where the communicator allows), then the next step's rows start.
  const model::ItemFeatures fetched =
      shards_ != nullptr ? shards_->fetch(batch_key(batch), batch_ids(batch)) : model::ItemFeatures{};
  if (shards_ != nullptr && next != nullptr) shards_->prefetch(batch_key(*next), batch_ids(*next));
  const RankLoss loss =
      forward(batch, shards_ != nullptr ? fetched : features_, view, aug, pos_items, interest_embeddings);
  clock_.mark(StepClock::kForward);
  loss.total.backward();
  clock_.mark(StepClock::kBackward);

  // The scalars summed with the gradients, assembled on the device.
  const int64_t domains = settings_.domains;
  torch::Tensor scalars =
      torch::zeros({scalar_count(domains, comm_.size())}, torch::TensorOptions().dtype(torch::kFloat).device(device));
  scalars.narrow(0, kSeqItem, RankLoss::kParts).copy_(loss.parts);
  int64_t poisoned_step = -1;
  if (runtime::fault_armed("nan-loss", &poisoned_step) && poisoned_step == adam_.steps() &&
      comm_.rank() == std::min(1, comm_.size() - 1)) {
    scalars.narrow(0, kSeqItem, 1).fill_(std::nan(""));
  }
  const torch::Tensor& domain = on_device.domain;
  scalars.narrow(0, kFixedScalars, domains).index_add_(0, domain, loss.seq_item_rows.to(torch::kFloat));
  scalars.narrow(0, kFixedScalars + domains, domains)
      .index_add_(0, domain, torch::ones({domain.numel()}, scalars.options()));
  const int64_t width_slots = kFixedScalars + 2 * domains;
  const LoopScalars loop_scalars{kStopFlag, width_slots};
  loop_scalars.put(scalars, stop_requested, next, comm_.rank());
  const torch::Tensor summed = sync_.allreduce(scalars);
  clock_.mark(StepClock::kComm);
  // The step's one host synchronisation: the summed scalars decide whether to update.
  const torch::Tensor host_sums = summed.to(torch::kCPU, torch::kDouble);
  StepReport result;
  const double* host = host_sums.data_ptr<double>();
  result.sums.assign(host, host + width_slots);
  loop_scalars.read(host, next != nullptr, comm_.size(), result);

  const std::vector<double>& sums = result.sums;
  if (!std::isfinite(pretrain_losses(sums, 1, settings_).total)) {
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
  clock_.mark(StepClock::kOptimizer);
  result.times = clock_.read();
  return result;
}

}  // namespace missrec::train
