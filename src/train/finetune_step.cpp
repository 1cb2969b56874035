#include "train/finetune_step.h"

#include <glog/logging.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "runtime/comm.h"

namespace missrec::train {

FinetuneStep::FinetuneStep(model::MissRecImpl& model, const model::ItemFeatures& features, ParameterSet& parameters,
                           Adam& adam, GradientSync& sync, runtime::Communicator& comm, FinetuneStepSettings settings)
    : model_(model),
      features_(features),
      parameters_(parameters),
      adam_(adam),
      sync_(sync),
      comm_(comm),
      settings_(settings),
      uploader_(comm.device()),
      all_ids_and_padding_(torch::arange(0, settings.items + 1, torch::kLong)) {}

FinetuneStepResult FinetuneStep::run(const data::Batch& batch, const torch::Tensor& interest_embeddings,
                                     const data::Batch* next) {
  const at::Device device = comm_.device();
  CHECK_GT(batch.global_size, 0) << "a batch without its global size";
  for (const auto& entry : parameters_.entries()) entry.tensor.mutable_grad() = torch::Tensor();
  const DeviceBatch on_device = uploader_.take(batch);
  if (next != nullptr) uploader_.prefetch(*next);
  const model::SequenceInput& input = on_device.view;
  if (!placement_checked_) {
    NamedTensors tensors = {{"features.text", features_.text},
                            {"features.image", features_.image},
                            {"interest_embeddings", interest_embeddings},
                            {"gradient buffer", sync_.buffer()},
                            {"batch.pos_item", on_device.pos_item}};
    add_named(tensors, "batch.view.",
              {{"item_seq", input.item_seq}, {"item_length", input.item_length}, {"interest_seq", input.interest_seq}});
    add_training_state(tensors, model_, adam_);
    check_placement(tensors, device, "fine-tuning step");
    placement_checked_ = true;
  }
  model::SequenceOutput output;
  model::FinetuneLosses losses;
  {
    const MixedPrecisionScope mixed_precision(settings_.precision, device);
    // Every item is a candidate: adaptors once over all items and the padding row.
    const model::AdaptedItems adapted = model_.adapt_items({all_ids_and_padding_}, features_);
    output = model_.encode_by_length(input, adapted, interest_embeddings);
    const torch::Tensor scores = model_.all_item_scores(output.z, adapted);
    losses = model_.finetune_loss(scores, on_device.pos_item, output.reg, batch.global_size);
  }
  losses.total.backward();
  const torch::Tensor cross_entropy = losses.cross_entropy;
  const double batch_size = static_cast<double>(batch.global_size);
  // The step's one host synchronisation: the summed parts, read back together.
  const torch::Tensor summed =
      sync_.allreduce(torch::stack({cross_entropy.detach(), output.reg.detach().reshape({})}).to(torch::kFloat))
          .to(torch::kCPU, torch::kDouble);
  const double* sums = summed.data_ptr<double>();
  FinetuneStepResult result;
  result.cross_entropy = sums[kCrossEntropy] / batch_size;
  result.reg = sums[kReg];
  result.loss = result.cross_entropy + model_.config().gamma * result.reg;
  if (!std::isfinite(result.loss)) {
    throw std::runtime_error("non-finite fine-tuning loss at epoch " + std::to_string(batch.epoch + 1) + ", step " +
                             std::to_string(batch.step + 1) + "; parameters not updated");
  }
  adam_.step();
  return result;
}

}  // namespace missrec::train
