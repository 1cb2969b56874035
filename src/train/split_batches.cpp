#include "train/split_batches.h"

#include <glog/logging.h>

#include <algorithm>

#include "runtime/comm.h"

namespace missrec::train {

SplitBatches::SplitBatches(const data::Dataset& dataset, const std::string& split, int64_t batch_size)
    : batch_size_(batch_size) {
  CHECK_GT(batch_size, 0);
  for (const data::DomainInfo& domain : dataset.domains()) {
    const auto found = domain.splits.find(split);
    if (found == domain.splits.end()) continue;
    for (const data::SampleSegment& segment : found->second) {
      first_.push_back(first_.empty() ? 0 : first_.back() + parts_.back().segment->size());
      parts_.push_back({&domain, &segment});
    }
  }
  first_.push_back(first_.empty() ? 0 : first_.back() + parts_.back().segment->size());
}

std::vector<data::RawSample> SplitBatches::read(int64_t batch) {
  CHECK(batch >= 0 && batch < batches()) << "batch " << batch << " of " << batches();
  const int64_t first = batch * batch_size_;
  const int64_t count = std::min(batch_size_, samples() - first);
  std::vector<data::RawSample> samples(static_cast<size_t>(count));
  // The segment holding sample `first`, then onwards through the segments.
  size_t part = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), first) - first_.begin()) - 1;
  for (int64_t i = 0; i < count; ++i) {
    while (first + i >= first_[part + 1]) ++part;
    const Part& ref = parts_[part];
    const data::SampleView read = reader_.at(*ref.segment, first + i - first_[part]);
    data::RawSample& sample = samples[static_cast<size_t>(i)];
    sample.domain = ref.domain->index;
    sample.position = first + i;
    sample.target = ref.domain->first_global_id + read.target;
    if (ref.segment->has_user) sample.user = read.user;
    sample.history.resize(static_cast<size_t>(read.length));
    for (int64_t k = 0; k < read.length; ++k) sample.history[k] = ref.domain->first_global_id + read.items[k];
  }
  return samples;
}

torch::Tensor encode_samples(model::MissRecImpl& model, const model::AdaptedItems& adapted,
                             const std::vector<data::RawSample>& samples, int64_t batch_index,
                             const data::InterestState& interests, int64_t max_seq_len, at::Device device) {
  data::BatchOptions options;
  options.max_seq_len = max_seq_len;
  const data::Batch batch = data::build_batch(samples, 0, batch_index, interests, options);
  model::SequenceInput input;
  input.item_seq = batch.view.item_seq.to(device);
  input.item_length = batch.view.item_length.to(device);
  input.interest_seq = batch.view.interest_seq.to(device);
  return model.encode_by_length(input, adapted, interests.interest_embeddings).z;
}

void gather_in_batch_order(int64_t batches, int64_t columns, runtime::Communicator& comm,
                           const std::function<torch::Tensor(int64_t)>& rows_of,
                           const std::function<void(const torch::Tensor&)>& sink) {
  const int64_t ranks = comm.size();
  for (int64_t round = 0; round * ranks < batches; ++round) {
    const int64_t mine = round * ranks + comm.rank();
    const torch::Tensor rows =
        mine < batches ? rows_of(mine).to(torch::kDouble) : torch::zeros({0, columns}, torch::kDouble);
    CHECK_EQ(rows.size(1), columns) << "rows of batch " << mine;
    // Ranks in order hold batches round*P, round*P + 1, ...: the gathered rows are in batch order.
    sink(comm.allgather_variable(rows.to(comm.device())).to(torch::kCPU));
  }
}

}  // namespace missrec::train
