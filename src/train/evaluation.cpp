#include "train/evaluation.h"

#include <glog/logging.h>

#include <cmath>
#include <cstdio>

#include "data/sample_reader.h"
#include "runtime/comm.h"
#include "train/metrics_log.h"

namespace missrec::train {

void RankingMetrics::add_to(JsonLine& line, const std::string& prefix) const {
  for (size_t c = 0; c < kRankingCutoffs.size(); ++c) {
    const std::string at = "@" + std::to_string(kRankingCutoffs[c]);
    line.add(prefix + "recall" + at, recall[c]).add(prefix + "ndcg" + at, ndcg[c]);
  }
}

std::string RankingMetrics::json() const {
  // Six decimals, as the public implementation reports them.
  RankingMetrics rounded = *this;
  for (size_t c = 0; c < kRankingCutoffs.size(); ++c) {
    rounded.recall[c] = std::round(recall[c] * 1e6) / 1e6;
    rounded.ndcg[c] = std::round(ndcg[c] * 1e6) / 1e6;
  }
  JsonLine line;
  rounded.add_to(line, "");
  return line.add("users", users).str();
}

torch::Tensor target_ranks(const torch::Tensor& scores, const torch::Tensor& target_columns) {
  const torch::Tensor target_scores = scores.gather(1, target_columns.view({-1, 1}));
  return scores.ge(target_scores).sum(1);  // the target itself counts once: rank >= 1
}

torch::Tensor per_user_metrics(const torch::Tensor& ranks) {
  const torch::Tensor r = ranks.to(torch::kDouble);
  const torch::Tensor gain = 1.0 / torch::log2(r + 1.0);
  std::vector<torch::Tensor> columns;
  for (const int64_t cutoff : kRankingCutoffs) {
    const torch::Tensor hit = r.le(cutoff).to(torch::kDouble);
    columns.push_back(hit);
    columns.push_back(gain * hit);
  }
  return torch::stack(columns, 1);
}

namespace {

constexpr int64_t kMetricColumns = 2 * static_cast<int64_t>(kRankingCutoffs.size());

// A sample of a split in file order.
struct SampleRef {
  const data::DomainInfo* domain;
  const data::SampleSegment* segment;
  int64_t row;
};

std::vector<SampleRef> samples_in_file_order(const data::Dataset& dataset, const std::string& split) {
  std::vector<SampleRef> order;
  for (const data::DomainInfo& domain : dataset.domains()) {
    const auto found = domain.splits.find(split);
    if (found == domain.splits.end()) continue;
    for (const data::SampleSegment& segment : found->second) {
      for (int64_t row = 0; row < segment.size(); ++row) order.push_back({&domain, &segment, row});
    }
  }
  return order;
}

// Samples [first, first + count) of `order`, with global item ids.
std::vector<data::RawSample> read_samples(const std::vector<SampleRef>& order, int64_t first, int64_t count,
                                          data::SampleReader& reader) {
  std::vector<data::RawSample> samples(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const SampleRef& ref = order[static_cast<size_t>(first + i)];
    const std::vector<int32_t> history = reader.read(*ref.segment, ref.row, 1);
    data::RawSample& sample = samples[static_cast<size_t>(i)];
    sample.domain = ref.domain->index;
    sample.position = first + i;
    sample.target = ref.domain->first_global_id + ref.segment->target[static_cast<size_t>(ref.row)];
    sample.history.resize(history.size());
    for (size_t k = 0; k < history.size(); ++k) sample.history[k] = ref.domain->first_global_id + history[k];
  }
  return samples;
}

// Per-user metric rows [b, kMetricColumns] of one batch, on the host.
torch::Tensor batch_metric_rows(model::MissRecImpl& model, const model::AdaptedItems& adapted,
                                const std::vector<data::RawSample>& samples, int64_t b,
                                const data::InterestState& interests, const data::BatchOptions& options,
                                at::Device device) {
  const data::Batch batch = data::build_batch(samples, 0, b, interests, options);
  model::SequenceInput input;
  input.item_seq = batch.view.item_seq.to(device);
  input.item_length = batch.view.item_length.to(device);
  input.interest_seq = batch.view.interest_seq.to(device);
  const model::SequenceOutput output = model.encode_by_length(input, adapted, interests.interest_embeddings);
  // Column 0 (the padding item) is no recommendation.
  const int64_t items = adapted.text.size(0) - 1;
  const torch::Tensor scores = model.all_item_scores(output.z, adapted).narrow(1, 1, items);
  std::vector<int64_t> targets;
  for (const data::RawSample& sample : samples) targets.push_back(sample.target);
  const torch::Tensor columns = torch::tensor(targets, torch::kLong).to(device) - 1;
  return per_user_metrics(target_ranks(scores, columns)).to(torch::kCPU);
}

// Sums of every rank's metric rows, taken in batch order (batch b on rank b mod P), so
// that any rank count adds them in the same order.
std::array<double, kMetricColumns> sum_in_batch_order(const torch::Tensor& mine, int64_t total, int64_t batch_size,
                                                      runtime::Communicator& comm) {
  std::vector<int64_t> counts;
  const torch::Tensor gathered = comm.allgather_variable(mine.to(comm.device()), &counts).to(torch::kCPU);
  std::vector<int64_t> offsets(counts.size() + 1, 0);
  for (size_t r = 0; r < counts.size(); ++r) offsets[r + 1] = offsets[r] + counts[r];
  CHECK_EQ(offsets.back(), total) << "evaluation rows lost between ranks";
  std::vector<int64_t> taken(counts.size(), 0);
  std::array<double, kMetricColumns> sums{};
  const int64_t batches = (total + batch_size - 1) / batch_size;
  for (int64_t b = 0; b < batches; ++b) {
    const size_t owner = static_cast<size_t>(b % comm.size());
    const int64_t count = std::min(batch_size, total - b * batch_size);
    const torch::Tensor block = gathered.narrow(0, offsets[owner] + taken[owner], count);
    taken[owner] += count;
    const double* values = block.data_ptr<double>();
    for (int64_t i = 0; i < count; ++i) {
      for (int64_t m = 0; m < kMetricColumns; ++m) sums[static_cast<size_t>(m)] += values[i * kMetricColumns + m];
    }
  }
  return sums;
}

}  // namespace

RankingMetrics evaluate_split(model::MissRecImpl& model, const model::ItemFeatures& features,
                              const data::InterestState& interests, const data::Dataset& dataset,
                              const std::string& split, int64_t max_seq_len, runtime::Communicator& comm,
                              int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t items = features.text.size(0) - 1;
  const model::AdaptedItems adapted = model.adapt_items({torch::arange(0, items + 1, torch::kLong)}, features);
  const std::vector<SampleRef> order = samples_in_file_order(dataset, split);
  const int64_t total = static_cast<int64_t>(order.size());
  const int64_t batches = (total + batch_size - 1) / batch_size;
  data::SampleReader reader;
  data::BatchOptions options;
  options.max_seq_len = max_seq_len;
  std::vector<torch::Tensor> rows;
  for (int64_t b = comm.rank(); b < batches; b += comm.size()) {
    const int64_t first = b * batch_size;
    const std::vector<data::RawSample> samples =
        read_samples(order, first, std::min(batch_size, total - first), reader);
    rows.push_back(batch_metric_rows(model, adapted, samples, b, interests, options, comm.device()));
  }
  const torch::Tensor mine = rows.empty() ? torch::zeros({0, kMetricColumns}, torch::kDouble) : torch::cat(rows);
  const std::array<double, kMetricColumns> sums = sum_in_batch_order(mine, total, batch_size, comm);
  if (was_training) model.train();
  RankingMetrics metrics;
  metrics.users = total;
  const double n = std::max<double>(1.0, static_cast<double>(total));
  for (size_t c = 0; c < kRankingCutoffs.size(); ++c) {
    metrics.recall[c] = sums[2 * c] / n;
    metrics.ndcg[c] = sums[2 * c + 1] / n;
  }
  return metrics;
}

}  // namespace missrec::train
