#include "model/packed_layout.h"

#include <algorithm>

namespace missrec::model {

torch::Tensor indices_on(const std::vector<int64_t>& values, at::Device device) {
  return torch::tensor(values, torch::kLong).to(device, /*non_blocking=*/true);
}

PackedLayout pack_groups(const std::vector<std::vector<int64_t>>& groups, const std::vector<int64_t>& lengths,
                         int64_t row_width, at::Device device) {
  PackedLayout layout;
  layout.first_token.assign(lengths.size(), 0);
  layout.length = lengths;
  std::vector<int64_t> flat;
  std::vector<int64_t> sample_of_token;
  std::vector<int64_t> all_slots;
  const auto to_device = [&](const std::vector<int64_t>& values) { return indices_on(values, device); };
  for (const std::vector<int64_t>& samples : groups) {
    PackedGroup group;
    group.rows = static_cast<int64_t>(samples.size());
    for (const int64_t b : samples) group.width = std::max(group.width, lengths[static_cast<size_t>(b)]);
    const int64_t group_first = layout.tokens;
    std::vector<int64_t> slots(static_cast<size_t>(group.rows * group.width), group_first);
    std::vector<int64_t> token_slots;
    for (int64_t r = 0; r < group.rows; ++r) {
      const int64_t b = samples[static_cast<size_t>(r)];
      const int64_t length = lengths[static_cast<size_t>(b)];
      layout.first_token[static_cast<size_t>(b)] = layout.tokens;
      for (int64_t position = 0; position < length; ++position) {
        slots[static_cast<size_t>(r * group.width + position)] = layout.tokens + position;
        token_slots.push_back(r * group.width + position);
        flat.push_back(b * row_width + position);
        sample_of_token.push_back(b);
      }
      layout.tokens += length;
    }
    group.samples = to_device(samples);
    layout.slot_counts.push_back(static_cast<int64_t>(slots.size()));
    all_slots.insert(all_slots.end(), slots.begin(), slots.end());
    group.token_slots = to_device(token_slots);
    layout.groups.push_back(std::move(group));
  }
  layout.slots = to_device(all_slots);
  layout.flat_index = to_device(flat);
  layout.sample_of_token = to_device(sample_of_token);
  return layout;
}

void set_padding(PackedLayout& layout, const torch::Tensor& ids, const torch::Tensor& packed_ids) {
  layout.padding = packed_ids.eq(0);
  layout.group_padding.clear();
  for (const PackedGroup& group : layout.groups) {
    layout.group_padding.push_back(ids.index_select(0, group.samples).narrow(1, 0, group.width).eq(0));
  }
}

std::vector<torch::Tensor> padded_blocks(const torch::Tensor& tokens, const PackedLayout& layout) {
  std::vector<torch::Tensor> blocks = tokens.index_select(0, layout.slots).split_with_sizes(layout.slot_counts);
  for (size_t g = 0; g < blocks.size(); ++g) {
    blocks[g] = blocks[g].view({layout.groups[g].rows, layout.groups[g].width, tokens.size(1)});
  }
  return blocks;
}

torch::Tensor tokens_of_block(const torch::Tensor& block, const PackedGroup& group) {
  return block.reshape({group.rows * group.width, -1}).index_select(0, group.token_slots);
}

}  // namespace missrec::model
