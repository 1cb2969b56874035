#include "data/batch.h"

#include <glog/logging.h>

#include <algorithm>

#include "data/keyed_random.h"
#include "runtime/comm.h"

namespace missrec::data {

namespace {

BatchView assemble(const std::vector<std::vector<int64_t>>& histories, int64_t max_seq_len,
                   const InterestState& tables) {
  const int64_t count = static_cast<int64_t>(histories.size());
  int64_t width = 1;
  for (const auto& history : histories) width = std::max<int64_t>(width, history.size());
  BatchView view;
  view.item_seq = at::zeros({count, width}, at::kLong);
  view.item_length = at::empty({count}, at::kLong);
  auto seq = view.item_seq.accessor<int64_t, 2>();
  auto length = view.item_length.accessor<int64_t, 1>();
  std::vector<std::vector<int64_t>> interests(count);
  int64_t interest_width = 1;
  for (int64_t b = 0; b < count; ++b) {
    const auto& history = histories[b];
    for (size_t j = 0; j < history.size(); ++j) seq[b][j] = history[j];
    length[b] = static_cast<int64_t>(history.size());
    interests[b] = interest_ids(history.data(), length[b], max_seq_len, tables);
    interest_width = std::max<int64_t>(interest_width, interests[b].size());
  }
  view.interest_seq = at::zeros({count, interest_width}, at::kLong);
  auto interest = view.interest_seq.accessor<int64_t, 2>();
  for (int64_t b = 0; b < count; ++b) {
    for (size_t j = 0; j < interests[b].size(); ++j) interest[b][j] = interests[b][j];
  }
  return view;
}

at::Tensor pad_columns(const at::Tensor& values, int64_t width) {
  if (values.size(1) == width) return values;
  return at::constant_pad_nd(values, {0, width - values.size(1)}, 0);
}

}  // namespace

std::vector<int64_t> interest_ids(const int64_t* items, int64_t n, int64_t max_seq_len, const InterestState& tables) {
  const auto text = tables.text_interest.accessor<int64_t, 1>();
  const auto image = tables.image_interest.accessor<int64_t, 1>();
  std::vector<int64_t> ids;
  ids.reserve(2 * n + 1);
  for (int64_t j = 0; j < n; ++j) {
    ids.push_back(text[items[j]]);
    ids.push_back(image[items[j]]);
  }
  if (n < max_seq_len) ids.push_back(0);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Batch build_batch(const std::vector<RawSample>& samples, int64_t epoch, int64_t step, const InterestState& tables,
                  const BatchOptions& options) {
  CHECK(tables.text_interest.defined() && tables.image_interest.defined());
  const int64_t count = static_cast<int64_t>(samples.size());
  Batch batch;
  batch.epoch = epoch;
  batch.step = step;
  batch.pos_item = at::empty({count}, at::kLong);
  batch.domain = at::empty({count}, at::kLong);
  batch.sample_position = at::empty({count}, at::kLong);
  std::vector<std::vector<int64_t>> histories(count);
  int64_t* targets = batch.pos_item.data_ptr<int64_t>();
  int64_t* domains = batch.domain.data_ptr<int64_t>();
  int64_t* positions = batch.sample_position.data_ptr<int64_t>();
  for (int64_t b = 0; b < count; ++b) {
    const RawSample& sample = samples[b];
    const int64_t keep = std::min<int64_t>(sample.history.size(), options.max_seq_len);
    histories[b].assign(sample.history.end() - keep, sample.history.end());
    targets[b] = sample.target;
    domains[b] = sample.domain;
    positions[b] = sample.position;
  }
  batch.view = assemble(histories, options.max_seq_len, tables);

  const uint64_t seed = options.seed;
  batch.item_drop = unit_interval(keyed_hash(seed, 0x17e3d, static_cast<uint64_t>(epoch),
                                             static_cast<uint64_t>(step))) < options.item_drop_prob;
  std::vector<std::vector<int64_t>> augmented(count);
  std::vector<std::vector<bool>> word_drop(count);
  for (int64_t b = 0; b < count; ++b) {
    const auto& history = histories[b];
    const uint64_t position = static_cast<uint64_t>(samples[b].position);
    for (size_t j = 0; j < history.size(); ++j) {
      const bool hit = unit_interval(keyed_hash(seed ^ 0xa06ULL, static_cast<uint64_t>(epoch), position, j)) <
                       options.item_drop_ratio;
      if (batch.item_drop) {
        if (j == 0 || !hit) augmented[b].push_back(history[j]);
      } else {
        augmented[b].push_back(history[j]);
        word_drop[b].push_back(hit);
      }
    }
  }
  batch.aug = assemble(augmented, options.max_seq_len, tables);
  // The public implementation's item-drop view reads every text feature from the
  // word-drop table (text_aug): the reference fixtures are computed that way.
  batch.text_aug_mask = batch.item_drop ? batch.aug.item_seq.ne(0) : at::zeros(batch.aug.item_seq.sizes(), at::kBool);
  if (!batch.item_drop) {
    auto mask = batch.text_aug_mask.accessor<bool, 2>();
    for (int64_t b = 0; b < count; ++b) {
      for (size_t j = 0; j < word_drop[b].size(); ++j) mask[b][j] = word_drop[b][j];
    }
  }
  return batch;
}

void pad_interests_globally(Batch& batch, runtime::Communicator& comm) {
  at::Tensor widths =
      at::tensor({batch.view.interest_seq.size(1), batch.aug.interest_seq.size(1)}, at::kLong).to(comm.device());
  comm.allreduce(widths, runtime::ReduceOp::kMax);
  widths = widths.to(at::kCPU);
  pad_interest_columns(batch, widths[0].item<int64_t>(), widths[1].item<int64_t>());
}

void pad_interest_columns(Batch& batch, int64_t view_width, int64_t aug_width) {
  batch.view.interest_seq = pad_columns(batch.view.interest_seq, view_width);
  batch.aug.interest_seq = pad_columns(batch.aug.interest_seq, aug_width);
}

void pin_memory(Batch& batch) {
  for (at::Tensor* tensor : {&batch.pos_item, &batch.domain, &batch.sample_position, &batch.view.item_seq,
                             &batch.view.item_length, &batch.view.interest_seq, &batch.aug.item_seq,
                             &batch.aug.item_length, &batch.aug.interest_seq, &batch.text_aug_mask}) {
    if (tensor->defined()) *tensor = tensor->pin_memory();
  }
}

}  // namespace missrec::data
