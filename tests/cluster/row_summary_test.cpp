// The CPU's per-row selection against sorting each row, on rows built to stress it
// (ties, equal rows, zeros, tails shorter than a vector), and its portable build against
// its widest one, bit for bit.
#include "cluster/row_summary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace missrec::cluster {
namespace {

struct Summaries {
  std::vector<double> sums;
  std::vector<float> kept_values;
  std::vector<int64_t> kept_index;
  std::vector<float> row_max;
};

// Summarises `distances` [R, N] (already squared scaled distances: zero norms, dim 1).
Summaries summarise(const at::Tensor& distances, int64_t k, int64_t kept, SummaryKernel kernel) {
  at::Tensor block = distances.clone();
  const int64_t rows = block.size(0);
  const std::vector<float> zero_norms(static_cast<size_t>(std::max(rows, block.size(1))), 0.0f);
  Summaries out{std::vector<double>(rows), std::vector<float>(rows * kept), std::vector<int64_t>(rows * kept),
                std::vector<float>(rows)};
  summarise_rows(block, zero_norms.data(), zero_norms.data(), 1.0f, k, kept,
                 RowSummaries{out.sums.data(), out.kept_values.data(), out.kept_index.data(), out.row_max.data()},
                 kernel);
  return out;
}

void expect_matches_sorting(const at::Tensor& distances, int64_t k, int64_t kept) {
  const Summaries got = summarise(distances, k, kept, SummaryKernel::kWidest);
  const int64_t n = distances.size(1);
  for (int64_t r = 0; r < distances.size(0); ++r) {
    const float* row = distances.data_ptr<float>() + r * n;
    std::vector<std::pair<float, int64_t>> sorted;
    for (int64_t j = 0; j < n; ++j) sorted.emplace_back(row[j], j);
    std::sort(sorted.begin(), sorted.end());
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i) sum += sorted[static_cast<size_t>(i)].first;
    EXPECT_NEAR(got.sums[r], sum, 1e-12 * std::max(1.0, std::abs(sum))) << "row " << r;
    EXPECT_EQ(got.row_max[r], sorted.back().first) << "row " << r;
    for (int64_t i = 0; i < kept; ++i) {
      EXPECT_EQ(got.kept_values[r * kept + i], sorted[static_cast<size_t>(i)].first) << "row " << r << " rank " << i;
      EXPECT_EQ(got.kept_index[r * kept + i], sorted[static_cast<size_t>(i)].second) << "row " << r << " rank " << i;
    }
  }
}

void expect_portable_same_bits(const at::Tensor& distances, int64_t k, int64_t kept) {
  const Summaries widest = summarise(distances, k, kept, SummaryKernel::kWidest);
  const Summaries portable = summarise(distances, k, kept, SummaryKernel::kPortable);
  for (size_t r = 0; r < widest.sums.size(); ++r) {
    EXPECT_EQ(std::memcmp(&widest.sums[r], &portable.sums[r], sizeof(double)), 0) << "row " << r;
  }
  EXPECT_EQ(widest.kept_values, portable.kept_values);
  EXPECT_EQ(widest.kept_index, portable.kept_index);
  EXPECT_EQ(widest.row_max, portable.row_max);
}

// Rows of several shapes: smooth, heavy-tailed, few distinct values (ties everywhere),
// one row of zeros, one of a single repeated value, and one whose every 16th value is
// small and the others large (long rows estimate the k-th value from such a sample, and
// this one misleads it).
at::Tensor stress_rows(int64_t rows, int64_t n) {
  at::manual_seed(7);
  at::Tensor smooth = at::rand({rows, n}) * 3.0;
  at::Tensor heavy = at::randn({rows, n}).pow(4);
  at::Tensor ties = at::randint(0, 9, {rows, n}).to(at::kFloat) * 0.25;
  at::Tensor zeros = at::zeros({1, n});
  at::Tensor constant = at::full({1, n}, 1.5f);
  at::Tensor misleading = at::rand({1, n}) + 10.0;
  misleading.slice(1, 0, n, 16).uniform_(0.0, 0.01);
  return at::cat({smooth, heavy, ties, zeros, constant, misleading}).contiguous();
}

// Short rows (counted whole), long rows (counted below a sampled bound), a ragged tail.
const int64_t kLengths[] = {1000, 1013, 37, 5000, 6007};

// Each row length, with k a tenth of the row, one, and all of it.
template <typename Check>
void for_each_case(const Check& check) {
  for (int64_t n : kLengths) {
    const at::Tensor rows = stress_rows(6, n);
    for (auto [k, kept] : {std::pair<int64_t, int64_t>{n / 10, std::min<int64_t>(n / 10, 64)}, {1, 1}, {n, 16}}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k) + " kept=" + std::to_string(kept));
      check(rows, k, kept);
    }
  }
}

TEST(RowSummary, MatchesSortingEachRow) { for_each_case(expect_matches_sorting); }

TEST(RowSummary, PortableKernelGivesTheSameBits) { for_each_case(expect_portable_same_bits); }

TEST(RowSummary, FinishesTheDistancesInPlace) {
  // -2 a.b in the block, norms beside: max((-2ab + |a|^2) + |b|^2, 0) / dim.
  at::Tensor block = at::tensor({-2.0f, -10.0f, 4.0f}).view({1, 3});
  const std::vector<float> row_norms = {1.0f};
  const std::vector<float> norms = {1.0f, 4.0f, 9.0f};
  std::vector<double> sums(1);
  std::vector<float> kept_values(2), row_max(1);
  std::vector<int64_t> kept_index(2);
  summarise_rows(block, row_norms.data(), norms.data(), 2.0f, 2, 2,
                 RowSummaries{sums.data(), kept_values.data(), kept_index.data(), row_max.data()});
  EXPECT_EQ(block[0][0].item<float>(), 0.0f);  // (-2 + 1) + 1 = 0
  EXPECT_EQ(block[0][1].item<float>(), 0.0f);  // clamped at 0
  EXPECT_EQ(block[0][2].item<float>(), 7.0f);  // (4 + 1 + 9) / 2
  EXPECT_EQ(sums[0], 0.0);
  EXPECT_EQ(kept_index, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(row_max[0], 7.0f);
}

}  // namespace
}  // namespace missrec::cluster
