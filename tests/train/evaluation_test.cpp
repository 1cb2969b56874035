// Full-ranking metrics (Recall@K and NDCG@K over every item, as fine-tuning and
// `missrec evaluate` report them) on hand-computed cases: the target ranked 1st, 10th,
// 11th, 50th and 51st, and ties broken against the target.
#include "train/evaluation.h"

#include <gtest/gtest.h>

#include <cmath>

namespace missrec::train {
namespace {

// 100 candidates scored 100, 99, ..., 1 (column c scores 100 - c); the target column
// sets the rank.
torch::Tensor descending_scores(int64_t rows) {
  return (100.0 - torch::arange(100, torch::kDouble)).unsqueeze(0).expand({rows, 100}).contiguous();
}

TEST(Ranking, RanksCountCandidatesScoringAtLeastTheTarget) {
  const torch::Tensor scores = descending_scores(5);
  const torch::Tensor targets = torch::tensor({0, 9, 10, 49, 50}, torch::kLong);
  const torch::Tensor ranks = target_ranks(scores, targets);
  EXPECT_EQ(ranks[0].item<int64_t>(), 1);
  EXPECT_EQ(ranks[1].item<int64_t>(), 10);
  EXPECT_EQ(ranks[2].item<int64_t>(), 11);
  EXPECT_EQ(ranks[3].item<int64_t>(), 50);
  EXPECT_EQ(ranks[4].item<int64_t>(), 51);
}

TEST(Ranking, TiesCountAgainstTheTarget) {
  // Target (column 3) ties with 4 others at the top score: rank 5, not 1.
  torch::Tensor scores = torch::zeros({1, 20}, torch::kFloat);
  scores.index_put_({0, torch::tensor({1, 3, 7, 8, 12})}, 1.0f);
  EXPECT_EQ(target_ranks(scores, torch::tensor({3}, torch::kLong))[0].item<int64_t>(), 5);
}

TEST(Ranking, PerUserMetricsAtTheCutoffs) {
  // Columns: recall@10, ndcg@10, recall@20, ndcg@20, recall@50, ndcg@50.
  const torch::Tensor rows = per_user_metrics(torch::tensor({1, 10, 11, 20, 50, 51}, torch::kLong));
  ASSERT_EQ(rows.size(1), 6);
  const auto m = [&](int64_t row, int64_t column) { return rows[row][column].item<double>(); };
  // rank 1: hit at every cutoff, gain 1
  for (int64_t c = 0; c < 6; ++c) EXPECT_DOUBLE_EQ(m(0, c), 1.0);
  // rank 10: inside @10 with gain 1/log2(11)
  EXPECT_DOUBLE_EQ(m(1, 0), 1.0);
  EXPECT_NEAR(m(1, 1), 1.0 / std::log2(11.0), 1e-15);
  // rank 11: outside @10, inside @20 and @50
  EXPECT_DOUBLE_EQ(m(2, 0), 0.0);
  EXPECT_DOUBLE_EQ(m(2, 1), 0.0);
  EXPECT_DOUBLE_EQ(m(2, 2), 1.0);
  EXPECT_NEAR(m(2, 3), 1.0 / std::log2(12.0), 1e-15);
  EXPECT_NEAR(m(2, 5), 1.0 / std::log2(12.0), 1e-15);
  // rank 20: the last inside @20
  EXPECT_DOUBLE_EQ(m(3, 2), 1.0);
  EXPECT_NEAR(m(3, 3), 1.0 / std::log2(21.0), 1e-15);
  // rank 50: outside @20, the last inside @50; rank 51: nothing
  EXPECT_DOUBLE_EQ(m(4, 2), 0.0);
  EXPECT_DOUBLE_EQ(m(4, 4), 1.0);
  EXPECT_NEAR(m(4, 5), 1.0 / std::log2(51.0), 1e-15);
  for (int64_t c = 0; c < 6; ++c) EXPECT_DOUBLE_EQ(m(5, c), 0.0);
  // Averages over the six users.
  const torch::Tensor mean = rows.mean(0);
  EXPECT_DOUBLE_EQ(mean[0].item<double>(), 2.0 / 6.0);  // recall@10
  EXPECT_DOUBLE_EQ(mean[2].item<double>(), 4.0 / 6.0);  // recall@20
  EXPECT_DOUBLE_EQ(mean[4].item<double>(), 5.0 / 6.0);  // recall@50
  EXPECT_NEAR(mean[1].item<double>(), (1.0 + 1.0 / std::log2(11.0)) / 6.0, 1e-15);
}

}  // namespace
}  // namespace missrec::train
