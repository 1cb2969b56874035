#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace missrec::model {

// Variable-length sequences stored token after token ("packed", [T, H]) with the samples
// cut into groups of similar length: attention runs per group on a padded [rows, width]
// layout, every position-wise layer once on the packed tokens, so no layer but attention
// pays for padding. Tokens are packed group by group, sample by sample, position by position.
struct PackedGroup {
  int64_t rows = 0;
  int64_t width = 0;          // the group's longest sequence
  torch::Tensor samples;      // [rows] the group's sample indices (rows of the batch)
  torch::Tensor token_slots;  // [the group's tokens] each token's padded slot, r * width + position
};

struct PackedLayout {
  int64_t tokens = 0;
  std::vector<PackedGroup> groups;
  torch::Tensor slots;  // each group's padded slots in turn: the packed token of each (padding: the group's first)
  std::vector<int64_t> slot_counts;  // rows * width of each group
  torch::Tensor flat_index;          // [T] b * row_width + position of each token
  torch::Tensor sample_of_token;     // [T] b
  std::vector<int64_t> first_token;  // [B] packed index of each sample's position 0
  std::vector<int64_t> length;       // [B] each sample's tokens
  // Which tokens attention ignores as keys (true): [T] for the packed CPU kernel, and the
  // same per group, [rows, width] with the padding slots, for the per-group path.
  torch::Tensor padding;
  std::vector<torch::Tensor> group_padding;
};

// Host indices as an int64 tensor on `device` (copied without waiting where it can be).
torch::Tensor indices_on(const std::vector<int64_t>& values, at::Device device);

// The layout of `groups` (sample indices, in packing order) whose sample b has lengths[b]
// >= 1 tokens at positions 0.. of its row of a [B, row_width] tensor; index tensors on `device`.
PackedLayout pack_groups(const std::vector<std::vector<int64_t>>& groups, const std::vector<int64_t>& lengths,
                         int64_t row_width, at::Device device);

// Sets layout.padding and group_padding from the ids of the [B, row_width] tensor the
// layout packs and the same ids packed ([T], the caller's gather at flat_index): a token
// is padding where its id is 0.
void set_padding(PackedLayout& layout, const torch::Tensor& ids, const torch::Tensor& packed_ids);

// Packed tokens [T, C] as every group's padded [rows, width, C] block: one gather for all
// groups (its backward fills one [T, C] gradient, not one per group).
std::vector<torch::Tensor> padded_blocks(const torch::Tensor& tokens, const PackedLayout& layout);
// A group's block [rows, width, ...] back to its tokens [tokens, C].
torch::Tensor tokens_of_block(const torch::Tensor& block, const PackedGroup& group);

}  // namespace missrec::model
