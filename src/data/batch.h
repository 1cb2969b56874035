#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "data/interest_state.h"
#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::data {

// One view of a batch: global item ids left-aligned and zero-padded to the longest
// history of this rank's batch, lengths, and interest ids padded with 0.
struct BatchView {
  at::Tensor item_seq;      // [b, L] int64
  at::Tensor item_length;   // [b] int64
  at::Tensor interest_seq;  // [b, U] int64
};

// A rank's slice of one global batch, both views, CPU tensors.
struct Batch {
  int64_t epoch = 0;
  int64_t step = 0;            // global step within the epoch
  int64_t global_size = 0;     // samples of the whole global batch (all ranks' slices)
  at::Tensor pos_item;         // [b] int64 global target ids
  at::Tensor domain;           // [b] int64 domain index
  at::Tensor sample_position;  // [b] int64 position in the epoch order
  BatchView view;
  BatchView aug;
  at::Tensor text_aug_mask;  // [b, L_aug] bool: text from text_aug there (word drop:
                             // the dropped positions; item drop: every position)
  bool item_drop = false;    // which augmentation this batch drew
};

// One sample before assembly: global ids, oldest first.
struct RawSample {
  int domain = 0;
  std::vector<int64_t> history;
  int64_t target = 0;
  int64_t position = 0;
  int64_t user = -1;  // the dataset's user index, -1 when it has none
};

struct BatchOptions {
  int64_t max_seq_len = runtime::ModelConfig{}.max_seq_len;
  double item_drop_prob = runtime::AugmentConfig{}.item_drop_prob;
  double item_drop_ratio = runtime::AugmentConfig{}.item_drop_ratio;
  uint64_t seed = runtime::RunConfig{}.seed;
};

// sorted(unique(text_interest[s] ∪ image_interest[s])) over the n items, with a
// leading 0 when n < max_seq_len (the public code's padding position).
std::vector<int64_t> interest_ids(const int64_t* items, int64_t n, int64_t max_seq_len, const InterestState& tables);

// Assembles both views; histories longer than max_seq_len keep their newest items. The
// augmentation draws are keyed on (seed, epoch, step) and (seed, epoch, position), so
// they do not depend on the number of ranks.
Batch build_batch(const std::vector<RawSample>& samples, int64_t epoch, int64_t step, const InterestState& tables,
                  const BatchOptions& options);

// Moves every tensor of `batch` into page-locked host memory, so that copies to a GPU
// run asynchronously at full speed (needs a CUDA build; the loader does it when asked).
void pin_memory(Batch& batch);

// Pads both views' interest sequences to the widest in the global batch (one
// max-allreduce over the ranks), as the paper requires for the regulariser.
// Pads both views' interest columns with zeros to the given widths (at least their own).
void pad_interest_columns(Batch& batch, int64_t view_width, int64_t aug_width);

void pad_interests_globally(Batch& batch, runtime::Communicator& comm);

}  // namespace missrec::data
