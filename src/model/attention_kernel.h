#pragma once

#include <torch/torch.h>

namespace missrec::model {

// The core of multi-head attention, softmax(q k^T, keys at key_padding masked) v, with
// dropout p on the probabilities, computed per (sample, head) on the CPU with a
// hand-written backward. LibTorch's CPU bmm multiplies small batched matrices one
// batch entry at a time through select and addmm (60% of the pretraining step, measured
// with the profiler); this calls the BLAS GEMM directly per entry, on the operands where
// they lie, and fuses the masking, softmax and dropout. q [B, T, heads, d] (already
// scaled), k and v [B, S, heads, d], each with its d values contiguous and its heads
// adjacent (views of [B, len, H] projections, any sample and position strides);
// key_padding [B, S] bool (true = ignore); float32 CPU tensors. Returns [B, T, heads, d]
// contiguous. A row whose keys are all masked gives NaN, as softmax of -inf does.
torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& key_padding, double dropout, bool training);

// The same function from LibTorch operators (any device and dtype; autograd's backward):
// what other devices run, and the reference the kernel is tested against. Dropout
// multiplies by `dropout_mask` ({0, 1/(1-p)} [B, heads, T, S]) when it is defined, else
// draws its own mask (model::dropout) with probability `dropout` when training.
torch::Tensor attention_core_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& key_padding, const torch::Tensor& dropout_mask,
                                       double dropout, bool training);

// The dropout mask attention_core uses for `seed` (see dropout_mask), shaped [B, heads, T, S].
torch::Tensor attention_dropout_mask(uint64_t seed, double p, at::IntArrayRef shape);

}  // namespace missrec::model
