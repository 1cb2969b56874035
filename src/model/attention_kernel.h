#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace missrec::model {

// Which rows of packed attention operands each sample owns: its queries are rows
// [query_begin[b], query_begin[b] + query_length[b]) of q, its keys rows
// [key_begin[b], key_begin[b] + key_length[b]) of k and v. Every row belongs to exactly
// one sample, and every sample has at least one key.
struct AttentionSegments {
  std::vector<int64_t> query_begin;
  std::vector<int64_t> query_length;
  std::vector<int64_t> key_begin;
  std::vector<int64_t> key_length;
};

// The core of multi-head attention, softmax(q k^T, keys at key_padding masked) v, with
// dropout p on the probabilities, computed per (sample, head) on the CPU with a
// hand-written backward, on packed tokens: each sample attends over its own keys only,
// so nothing is padded, gathered into blocks or scattered back. LibTorch's CPU bmm
// multiplies small batched matrices one batch entry at a time through select and addmm
// (the largest part of the pretraining step, docs/performance.md); this calls the GEMM
// directly per entry, on the operands where they lie, and fuses the masking, softmax and
// dropout. q [Tq, heads, d] (already scaled), k and v [Tk, heads, d], each with its d
// values contiguous and its heads adjacent (views of [T, H] projections, any row
// stride); key_padding [Tk] bool (true = ignore); float32 CPU tensors. Returns
// [Tq, heads, d] contiguous. A row whose keys are all masked gives NaN, as softmax of
// -inf does. Samples run in parallel on the rank's threads (runtime::rank_threads).
//
// Dropout's keep mask for (sample b, head h, query t, key j) is element
// offset(b) + (h * Tq_b + t) * Tk_b + j of dropout_mask's sequence, offset(b) counting the
// heads * Tq * Tk entries of the samples before b: for equal lengths, the
// [B, heads, T, S] layout of attention_dropout_mask.
torch::Tensor attention_core_packed(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const torch::Tensor& key_padding, const AttentionSegments& segments, double dropout,
                                    bool training);

// The same on a padded batch: q [B, T, heads, d], k and v [B, S, heads, d] (any sample
// stride), key_padding [B, S]. Returns [B, T, heads, d].
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
