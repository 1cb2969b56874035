// The tiled distance loop: the blocks it hands over (positions, order, heights), their
// contents per tile against the same call made directly, both distance forms, and rows
// listed by index.
#include "cluster/distance_tiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace missrec::cluster {
namespace {

Points points(int64_t n, int64_t dim, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor values = at::randn({n, dim});
  return Points{values, values.pow(2).sum(1)};
}

// Keeps every block it is handed, with its positions.
class Recorder final : public DistanceHandler {
 public:
  explicit Recorder(DistanceForm form) : form_(form) {}
  DistanceForm form() const override { return form_; }
  void add_block(int64_t p0, int64_t p1, at::Tensor& block) override {
    EXPECT_EQ(block.size(0), p1 - p0);
    positions.emplace_back(p0, p1);
    blocks.push_back(block.clone());
    block.fill_(-1.0f);  // the loop must overwrite whatever a handler leaves
  }
  std::vector<std::pair<int64_t, int64_t>> positions;
  std::vector<at::Tensor> blocks;

 private:
  DistanceForm form_;
};

// Rows [p0, p1) of `rows` computed as the loop should: one call per tile of `tile` rows
// counted from `begin`.
at::Tensor expected_rows(const RowSet& rows, const Points& columns, double dim, int64_t tile, int64_t p0, int64_t p1,
                         DistanceForm form) {
  at::Tensor out = at::empty({p1 - p0, columns.values.size(0)});
  for (int64_t t0 = p0; t0 < p1; t0 += tile) {
    const int64_t t1 = std::min(p1, t0 + tile);
    const Points tile_rows = rows.select(t0, t1);
    at::Tensor part = out.narrow(0, t0 - p0, t1 - t0);
    if (form == DistanceForm::kProducts) {
      minus_two_products(tile_rows.values, columns.values, part);
    } else {
      distance_rows(tile_rows.values, tile_rows.norms, columns.values, columns.norms, dim, part);
    }
  }
  return out;
}

void check_loop(const RowSet& rows, const Points& columns, const TilePlan& plan, DistanceForm form) {
  const double dim = static_cast<double>(columns.values.size(1));
  Recorder recorder(form);
  for_each_distance_tile(rows, columns, dim, plan, recorder);
  int64_t next = rows.begin;
  for (size_t b = 0; b < recorder.positions.size(); ++b) {
    const auto [p0, p1] = recorder.positions[b];
    EXPECT_EQ(p0, next);
    EXPECT_EQ(p1, std::min(rows.end, p0 + plan.pass));
    EXPECT_TRUE(at::equal(recorder.blocks[b], expected_rows(rows, columns, dim, plan.tile, p0, p1, form)))
        << "block " << b;
    next = p1;
  }
  EXPECT_EQ(next, rows.end);
}

TEST(DistanceTiles, BlocksArePassesOfWholeTilesInOrder) {
  const Points tokens = points(203, 9, 1);
  for (const DistanceForm form : {DistanceForm::kSquaredDistances, DistanceForm::kProducts}) {
    check_loop(RowSet{tokens, at::Tensor(), 20, 203}, tokens, TilePlan{16, 48}, form);
    check_loop(RowSet{tokens, at::Tensor(), 0, 203}, tokens, TilePlan{32, 32}, form);
  }
}

TEST(DistanceTiles, SquaredDistancesAreClampedAndScaled) {
  const Points tokens = points(50, 7, 2);
  const Points centers{tokens.values.slice(0, 0, 5), tokens.norms.slice(0, 0, 5)};
  Recorder recorder(DistanceForm::kSquaredDistances);
  for_each_distance_tile(RowSet{tokens, at::Tensor(), 0, 50}, centers, 7.0, TilePlan{16, 16}, recorder);
  const at::Tensor all = at::cat(recorder.blocks);
  EXPECT_TRUE(at::allclose(all, at::cdist(tokens.values, centers.values).pow(2) / 7.0, 1e-4, 1e-4));
  EXPECT_TRUE(all.ge(0).all().item<bool>());
}

TEST(DistanceTiles, ListedRowsAreGatheredPerTile) {
  const Points tokens = points(120, 5, 3);
  const at::Tensor list = at::tensor({1, 4, 5, 9, 30, 31, 64, 65, 66, 100, 119}, at::kLong);
  check_loop(RowSet{tokens, list, 4, 11}, tokens, TilePlan{4, 4}, DistanceForm::kSquaredDistances);
  const Points listed = RowSet{tokens, list, 0, 11}.select(2, 5);
  EXPECT_TRUE(at::equal(listed.values, tokens.values.index_select(0, list.slice(0, 2, 5))));
  EXPECT_TRUE(at::equal(listed.norms, tokens.norms.index_select(0, list.slice(0, 2, 5))));
}

TEST(DistanceTiles, NoRowsNoBlocks) {
  const Points tokens = points(10, 3, 4);
  Recorder recorder(DistanceForm::kSquaredDistances);
  const TileTimes times =
      for_each_distance_tile(RowSet{tokens, at::Tensor(), 6, 6}, tokens, 3.0, TilePlan{4, 4}, recorder);
  EXPECT_TRUE(recorder.positions.empty());
  EXPECT_EQ(times.distance_s, 0.0);
}

}  // namespace
}  // namespace missrec::cluster
