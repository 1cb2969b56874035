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
  torch::Tensor slots;        // [rows * width] packed token of each padded slot (padding: the group's first)
  torch::Tensor token_slots;  // [the group's tokens] each token's padded slot, r * width + position
};

struct PackedLayout {
  int64_t tokens = 0;
  std::vector<PackedGroup> groups;
  torch::Tensor flat_index;          // [T] b * row_width + position of each token
  torch::Tensor sample_of_token;     // [T] b
  std::vector<int64_t> first_token;  // [B] packed index of each sample's position 0
};

// The layout of `groups` (sample indices, in packing order) whose sample b has lengths[b]
// >= 1 tokens at positions 0.. of its row of a [B, row_width] tensor; index tensors on `device`.
PackedLayout pack_groups(const std::vector<std::vector<int64_t>>& groups, const std::vector<int64_t>& lengths,
                         int64_t row_width, at::Device device);

// Packed tokens [T, C] of a group as its padded [rows, width, C] block, and a block
// [rows, width, ...] back to the group's tokens [tokens, C].
torch::Tensor padded_block(const torch::Tensor& tokens, const PackedGroup& group);
torch::Tensor tokens_of_block(const torch::Tensor& block, const PackedGroup& group);

}  // namespace missrec::model
