#pragma once

#include <torch/torch.h>

#include <array>
#include <string>

#include "data/batch.h"
#include "data/dataset.h"
#include "model/missrec_model.h"

namespace missrec::runtime {
class Communicator;
class JsonLine;
}  // namespace missrec::runtime

namespace missrec::train {

// The ranking cutoffs every evaluation reports, Recall@k and NDCG@k for each.
inline constexpr std::array<int64_t, 3> kRankingCutoffs = {10, 20, 50};

// Full-ranking metrics, averaged over users (one sample per user in the
// valid and test splits).
struct RankingMetrics {
  std::array<double, kRankingCutoffs.size()> recall{};  // per cutoff of kRankingCutoffs
  std::array<double, kRankingCutoffs.size()> ndcg{};
  int64_t users = 0;
  double ndcg10() const { return ndcg[0]; }
  // Adds "<prefix>recall@k" and "<prefix>ndcg@k" for every cutoff, unrounded.
  void add_to(runtime::JsonLine& line, const std::string& prefix) const;
  std::string json() const;  // the test_metrics.json object (six decimals)
};

// Rank of each target among all candidates: 1 + the number of other candidates scoring
// at least as high (ties count against the target). scores [b, M], target_columns [b].
torch::Tensor target_ranks(const torch::Tensor& scores, const torch::Tensor& target_columns);

// Per-user [recall@k, ndcg@k for each k of kRankingCutoffs] rows from ranks (float64
// [b, 2 x cutoffs]).
torch::Tensor per_user_metrics(const torch::Tensor& ranks);

// Evaluates every sample of a split exactly once whatever the number of ranks. The
// split is cut into fixed batches of `batch_size` samples in file order (SplitBatches); batch j runs
// on rank j mod P, so each sample is scored in the same batch (same padding, same
// arithmetic) at any P, and the per-user rows are gathered and summed in sample order:
// np=1 and np=2 give identical numbers.
RankingMetrics evaluate_split(model::MissRecImpl& model, const model::ItemFeatures& features,
                              const data::InterestState& interests, const data::Dataset& dataset,
                              const std::string& split, int64_t max_seq_len, runtime::Communicator& comm,
                              int64_t batch_size = 256);

}  // namespace missrec::train
