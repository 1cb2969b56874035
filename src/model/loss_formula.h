#pragma once

namespace missrec::model {

// The two training losses' totals, written once. T is a tensor where the loss is
// computed to backpropagate (the step, the model's reference losses) and a double where
// summed parts are read back as metrics; both read the same formula.

// Pretraining: L_si + lambda L_ss + gamma (reg + reg_aug), L_si and L_ss per sample.
template <class T>
T pretrain_total(const T& seq_item, const T& seq_seq, const T& reg, const T& reg_aug, double lambda, double gamma) {
  return seq_item + lambda * seq_seq + gamma * (reg + reg_aug);
}

// Fine-tuning: the cross-entropy per sample plus gamma times the interest regulariser.
template <class T>
T finetune_total(const T& cross_entropy, const T& reg, double gamma) {
  return cross_entropy + gamma * reg;
}

}  // namespace missrec::model
