#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/dataset.h"
#include "data/sample_reader.h"
#include "model/missrec_model.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// The samples of a split in file order (domains in order, then segments, then rows), cut
// into fixed batches of `batch_size`: batch j is scored on rank j mod P, so every sample
// is scored in the same batch (same padding, same arithmetic) at any rank count.
class SplitBatches {
 public:
  SplitBatches(const data::Dataset& dataset, const std::string& split, int64_t batch_size);
  int64_t samples() const { return first_.empty() ? 0 : first_.back(); }
  int64_t batches() const { return (samples() + batch_size_ - 1) / batch_size_; }
  int64_t batch_size() const { return batch_size_; }
  // Batch j's samples with global item ids; position = the sample's index in file order.
  std::vector<data::RawSample> read(int64_t batch);

 private:
  struct Part {
    const data::DomainInfo* domain;
    const data::SampleSegment* segment;
  };
  std::vector<Part> parts_;     // the split's segments in file order
  std::vector<int64_t> first_;  // first_[i]: index of parts_[i]'s row 0; then the total
  int64_t batch_size_;
  data::SampleReader reader_;
};

// z [b, H] of batch `batch_index`'s samples (the model in eval mode, no gradients).
torch::Tensor encode_samples(model::MissRecImpl& model, const model::AdaptedItems& adapted,
                             const std::vector<data::RawSample>& samples, int64_t batch_index,
                             const data::InterestState& interests, int64_t max_seq_len, at::Device device);

// Rows computed batch by batch and handed over in batch order with bounded memory: in
// round r, rank p computes rows_of(r P + p) (a [rows, columns] float64 host tensor; no
// call past the last batch) and every rank's sink receives the round's rows of all
// ranks, in batch order. Every rank takes part in every round.
void gather_in_batch_order(int64_t batches, int64_t columns, runtime::Communicator& comm,
                           const std::function<torch::Tensor(int64_t)>& rows_of,
                           const std::function<void(const torch::Tensor&)>& sink);

}  // namespace missrec::train
