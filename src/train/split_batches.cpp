#include "train/split_batches.h"

#include <glog/logging.h>

#include "runtime/comm.h"

namespace missrec::train {

SplitBatches::SplitBatches(const data::Dataset& dataset, const std::string& split, int64_t batch_size)
    : batch_size_(batch_size) {
  CHECK_GT(batch_size, 0);
  for (const data::DomainInfo& domain : dataset.domains()) {
    const auto found = domain.splits.find(split);
    if (found == domain.splits.end()) continue;
    for (const data::SampleSegment& segment : found->second) {
      for (int64_t row = 0; row < segment.size(); ++row) order_.push_back({&domain, &segment, row});
    }
  }
}

std::vector<data::RawSample> SplitBatches::read(int64_t batch) {
  CHECK(batch >= 0 && batch < batches()) << "batch " << batch << " of " << batches();
  const int64_t first = batch * batch_size_;
  const int64_t count = std::min(batch_size_, samples() - first);
  std::vector<data::RawSample> samples(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const SampleRef& ref = order_[static_cast<size_t>(first + i)];
    const std::vector<int32_t> history = reader_.read(*ref.segment, ref.row, 1);
    data::RawSample& sample = samples[static_cast<size_t>(i)];
    sample.domain = ref.domain->index;
    sample.position = first + i;
    sample.target = ref.domain->first_global_id + ref.segment->target[static_cast<size_t>(ref.row)];
    if (!ref.segment->user.empty()) sample.user = ref.segment->user[static_cast<size_t>(ref.row)];
    sample.history.resize(history.size());
    for (size_t k = 0; k < history.size(); ++k) sample.history[k] = ref.domain->first_global_id + history[k];
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
