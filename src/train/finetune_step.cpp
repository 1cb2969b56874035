#include "train/finetune_step.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "model/loss_formula.h"
#include "runtime/comm.h"

namespace missrec::train {

LossReport finetune_losses(const std::vector<double>& sums, int64_t steps, double gamma) {
  const double step_count = static_cast<double>(std::max<int64_t>(steps, 1));
  const double cross_entropy = sums[FinetuneStep::kCrossEntropy] / step_count;
  const double reg = sums[FinetuneStep::kReg] / step_count;
  LossReport report;
  report.total = model::finetune_total(cross_entropy, reg, gamma);
  report.parts = {{"cross_entropy", cross_entropy}, {"reg", reg}};
  return report;
}

FinetuneStep::FinetuneStep(model::MissRecImpl& model, const model::ItemFeatures& features, ParameterSet& parameters,
                           Adam& adam, GradientSync& sync, runtime::Communicator& comm, FinetuneStepSettings settings)
    : model_(model),
      features_(features),
      parameters_(parameters),
      adam_(adam),
      sync_(sync),
      comm_(comm),
      settings_(settings),
      clock_(comm.device()),
      uploader_(comm.device()),
      all_ids_and_padding_(torch::arange(0, settings.items + 1, torch::kLong)) {}

void FinetuneStep::check_placement_once(const DeviceBatch& on_device, const torch::Tensor& interest_embeddings) {
  if (placement_checked_) return;
  const model::SequenceInput& input = on_device.view;
  NamedTensors tensors = {{"features.text", features_.text},
                          {"features.image", features_.image},
                          {"interest_embeddings", interest_embeddings},
                          {"gradient buffer", sync_.buffer()},
                          {"batch.pos_item", on_device.pos_item}};
  add_named(tensors, "batch.view.",
            {{"item_seq", input.item_seq}, {"item_length", input.item_length}, {"interest_seq", input.interest_seq}});
  add_training_state(tensors, model_, adam_);
  check_placement(tensors, comm_.device(), "fine-tuning step");
  placement_checked_ = true;
}

StepReport FinetuneStep::run(const data::Batch& batch, const torch::Tensor& interest_embeddings, bool stop_requested,
                             const data::Batch* next) {
  const at::Device device = comm_.device();
  CHECK_GT(batch.global_size, 0) << "a batch without its global size";
  clock_.start();
  parameters_.zero_gradients();
  const DeviceBatch on_device = uploader_.take(batch);
  if (next != nullptr) uploader_.prefetch(*next);
  check_placement_once(on_device, interest_embeddings);
  model::SequenceOutput output;
  model::FinetuneLosses losses;
  {
    const MixedPrecisionScope mixed_precision(settings_.precision, device);
    // Every item is a candidate: adaptors once over all items and the padding row.
    const model::AdaptedItems adapted = model_.adapt_items({all_ids_and_padding_}, features_);
    output = model_.encode_by_length(on_device.view, adapted, interest_embeddings);
    const torch::Tensor scores = model_.all_item_scores(output.z, adapted);
    losses = model_.finetune_loss(scores, on_device.pos_item, output.reg, batch.global_size);
  }
  clock_.mark(StepClock::kForward);
  losses.total.backward();
  clock_.mark(StepClock::kBackward);
  torch::Tensor scalars =
      torch::zeros({scalar_count(comm_.size())}, torch::TensorOptions().dtype(torch::kFloat).device(device));
  scalars.narrow(0, kCrossEntropy, 1).copy_(losses.cross_entropy.detach().reshape({1}));
  scalars.narrow(0, kReg, 1).copy_(output.reg.detach().reshape({1}));
  const LoopScalars loop_scalars{kStopFlag, kFixedScalars};
  loop_scalars.put(scalars, stop_requested, next, comm_.rank());
  // The step's one host synchronisation: the summed scalars, read back together.
  const torch::Tensor summed = sync_.allreduce(scalars).to(torch::kCPU, torch::kDouble);
  clock_.mark(StepClock::kComm);
  const double* sums = summed.data_ptr<double>();
  StepReport report;
  report.sums = {sums[kCrossEntropy] / static_cast<double>(batch.global_size), sums[kReg]};
  loop_scalars.read(sums, next != nullptr, comm_.size(), report);
  if (!std::isfinite(finetune_losses(report.sums, 1, settings_.gamma).total)) {
    throw std::runtime_error("non-finite fine-tuning loss at epoch " + std::to_string(batch.epoch + 1) + ", step " +
                             std::to_string(batch.step + 1) + "; parameters not updated");
  }
  adam_.step();
  clock_.mark(StepClock::kOptimizer);
  report.times = clock_.read();
  return report;
}

}  // namespace missrec::train
