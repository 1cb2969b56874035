#include "train/evaluation.h"

#include <glog/logging.h>

#include <cmath>

#include "runtime/comm.h"
#include "train/metrics_log.h"
#include "train/split_batches.h"

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

// Per-user metric rows [b, kMetricColumns] of one batch, on the host.
torch::Tensor batch_metric_rows(model::MissRecImpl& model, const model::AdaptedItems& adapted,
                                const std::vector<data::RawSample>& samples, int64_t b,
                                const data::InterestState& interests, int64_t max_seq_len, at::Device device) {
  const torch::Tensor z = encode_samples(model, adapted, samples, b, interests, max_seq_len, device);
  // Column 0 (the padding item) is no recommendation.
  const int64_t items = adapted.text.size(0) - 1;
  const torch::Tensor scores = model.all_item_scores(z, adapted).narrow(1, 1, items);
  std::vector<int64_t> targets;
  for (const data::RawSample& sample : samples) targets.push_back(sample.target);
  const torch::Tensor columns = torch::tensor(targets, torch::kLong).to(device) - 1;
  return per_user_metrics(target_ranks(scores, columns)).to(torch::kCPU);
}

}  // namespace

// Rows are summed in sample order (gather_in_batch_order), the same at any rank count.
RankingMetrics evaluate_split(model::MissRecImpl& model, const model::ItemFeatures& features,
                              const data::InterestState& interests, const data::Dataset& dataset,
                              const std::string& split, int64_t max_seq_len, runtime::Communicator& comm,
                              int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t items = features.text.size(0) - 1;
  const model::AdaptedItems adapted = model.adapt_items({torch::arange(0, items + 1, torch::kLong)}, features);
  SplitBatches batches(dataset, split, batch_size);
  std::array<double, kMetricColumns> sums{};
  int64_t rows_seen = 0;
  gather_in_batch_order(
      batches.batches(), kMetricColumns, comm,
      [&](int64_t b) {
        return batch_metric_rows(model, adapted, batches.read(b), b, interests, max_seq_len, comm.device());
      },
      [&](const torch::Tensor& rows) {
        const double* values = rows.data_ptr<double>();
        for (int64_t i = 0; i < rows.size(0); ++i) {
          for (int64_t m = 0; m < kMetricColumns; ++m) sums[static_cast<size_t>(m)] += values[i * kMetricColumns + m];
        }
        rows_seen += rows.size(0);
      });
  CHECK_EQ(rows_seen, batches.samples()) << "evaluation rows lost between ranks";
  if (was_training) model.train();
  RankingMetrics metrics;
  metrics.users = batches.samples();
  const double n = std::max<double>(1.0, static_cast<double>(metrics.users));
  for (size_t c = 0; c < kRankingCutoffs.size(); ++c) {
    metrics.recall[c] = sums[2 * c] / n;
    metrics.ndcg[c] = sums[2 * c + 1] / n;
  }
  return metrics;
}

}  // namespace missrec::train
