// Interest-id sequences (sorted distinct interest ids of a history's items, see
// docs/data-format.md) on hand-made cases, and the augmented view (item drop and word
// drop).
#include "data/batch.h"

#include <gtest/gtest.h>

#include "data/h5_file.h"
#include "support/fixture_path.h"

namespace missrec::data {
namespace {

InterestState small_tables() {
  InterestState tables;
  tables.text_interest = at::tensor({0, 3, 1, 3, 2}, at::kLong);
  tables.image_interest = at::tensor({0, 1, 5, 3, 4}, at::kLong);
  return tables;
}

std::vector<int64_t> ids(std::vector<int64_t> items, int64_t max_seq_len) {
  return interest_ids(items.data(), static_cast<int64_t>(items.size()), max_seq_len, small_tables());
}

TEST(InterestIds, SortedUniqueWithLeadingZeroWhenPadded) {
  EXPECT_EQ(ids({1, 2}, 50), (std::vector<int64_t>{0, 1, 3, 5}));
  EXPECT_EQ(ids({2, 1}, 50), (std::vector<int64_t>{0, 1, 3, 5}));  // order does not matter
}

TEST(InterestIds, NoZeroWhenTheHistoryIsFull) {
  EXPECT_EQ(ids({1, 3}, 2), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ids({1, 3}, 3), (std::vector<int64_t>{0, 1, 3}));
}

TEST(InterestIds, DuplicatesAcrossTextAndImageCountOnce) {
  EXPECT_EQ(ids({3}, 50), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(ids({3, 3, 1}, 50), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(ids({4, 4}, 2), (std::vector<int64_t>{2, 4}));
}

// The public implementation's interest-id sequences of both fixture batches (the view
// and the augmented view), from the fixtures' own item -> interest tables: each row is
// interest_ids of its history, zero-padded to the batch's widest.
void expect_fixture_interest_ids(const std::string& name) {
  const std::string path = missrec::testing::fixture_path(name);
  MISSREC_SKIP_WITHOUT_FIXTURE(path);
  const H5File file = H5File::open_read(path);
  const int64_t max_seq_len = static_cast<int64_t>(file.attribute<double>("/config", "MAX_ITEM_LIST_LENGTH"));
  InterestState tables;
  tables.text_interest = file.read_tensor("/tables/text_interest").to(at::kLong);
  tables.image_interest = file.read_tensor("/tables/image_interest").to(at::kLong);
  for (const std::string suffix : {"", "_aug"}) {
    const at::Tensor items = file.read_tensor("/batch/item_seq" + suffix).to(at::kLong).contiguous();
    const at::Tensor lengths = file.read_tensor("/batch/item_length" + suffix).to(at::kLong);
    const at::Tensor expected = file.read_tensor("/batch/interest_seq" + suffix).to(at::kLong);
    const int64_t width = expected.size(1);
    int64_t widest = 0;
    for (int64_t b = 0; b < items.size(0); ++b) {
      const int64_t n = lengths[b].item<int64_t>();
      std::vector<int64_t> row = interest_ids(items[b].data_ptr<int64_t>(), n, max_seq_len, tables);
      widest = std::max<int64_t>(widest, static_cast<int64_t>(row.size()));
      ASSERT_LE(static_cast<int64_t>(row.size()), width) << name << suffix << " sample " << b;
      row.resize(static_cast<size_t>(width), 0);
      EXPECT_TRUE(at::equal(at::tensor(row, at::kLong), expected[b])) << name << suffix << " sample " << b;
    }
    EXPECT_EQ(widest, width) << name << suffix << ": the width is the widest sample's";
  }
}

TEST(InterestIdsFixture, SmallFixture) { expect_fixture_interest_ids("missrec_forward_small.h5"); }
TEST(InterestIdsFixture, FullFixture) { expect_fixture_interest_ids("missrec_forward_full.h5"); }

InterestState random_tables(int64_t items) {
  InterestState tables;
  tables.text_interest = at::randint(1, 9, {items + 1}, at::kLong);
  tables.image_interest = at::randint(1, 9, {items + 1}, at::kLong);
  tables.text_interest[0] = 0;
  tables.image_interest[0] = 0;
  return tables;
}

std::vector<RawSample> make_samples(int64_t count, int64_t first_position) {
  std::vector<RawSample> samples(count);
  for (int64_t b = 0; b < count; ++b) {
    samples[b].domain = static_cast<int>(b % 3);
    samples[b].position = first_position + b;
    samples[b].target = 1 + b % 40;
    for (int64_t j = 0; j < 1 + (b * 7) % 30; ++j) samples[b].history.push_back(1 + (b + j * 3) % 40);
  }
  return samples;
}

TEST(BuildBatch, ViewIsLeftAlignedAndTruncatedToTheNewest) {
  at::manual_seed(0);
  const InterestState tables = random_tables(40);
  std::vector<RawSample> samples = make_samples(4, 0);
  samples[2].history.clear();
  for (int64_t j = 1; j <= 12; ++j) samples[2].history.push_back(j);
  BatchOptions options;
  options.max_seq_len = 10;
  const Batch batch = build_batch(samples, 0, 0, tables, options);
  EXPECT_EQ(batch.view.item_seq.size(1), 10);
  EXPECT_EQ(batch.view.item_length[2].item<int64_t>(), 10);
  EXPECT_EQ(batch.view.item_seq[2][0].item<int64_t>(), 3) << "oldest items are dropped";
  EXPECT_EQ(batch.view.item_seq[2][9].item<int64_t>(), 12);
  EXPECT_EQ(batch.view.item_seq[0][1].item<int64_t>(), 0) << "length-1 history is padded";
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t n = batch.view.item_length[b].item<int64_t>();
    EXPECT_TRUE(batch.view.item_seq[b].narrow(0, n, 10 - n).eq(0).all().item<bool>());
    EXPECT_TRUE(batch.view.item_seq[b].narrow(0, 0, n).gt(0).all().item<bool>());
  }
}

TEST(BuildBatch, ItemDropCompactsAndKeepsTheFirstItem) {
  at::manual_seed(0);
  const InterestState tables = random_tables(40);
  BatchOptions options;
  options.item_drop_prob = 1.0;
  const std::vector<RawSample> samples = make_samples(64, 100);
  const Batch batch = build_batch(samples, 3, 5, tables, options);
  ASSERT_TRUE(batch.item_drop);
  EXPECT_TRUE(at::equal(batch.text_aug_mask, batch.aug.item_seq.ne(0)))
      << "item drop reads every kept item's text from text_aug, as the public code";
  int64_t kept = 0;
  int64_t total = 0;
  for (int64_t b = 0; b < 64; ++b) {
    const auto& history = samples[b].history;
    const int64_t n = batch.aug.item_length[b].item<int64_t>();
    ASSERT_GE(n, 1);
    EXPECT_EQ(batch.aug.item_seq[b][0].item<int64_t>(), history[0]);
    // Compacted: the kept items are a subsequence of the history, then padding.
    size_t at = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t item = batch.aug.item_seq[b][j].item<int64_t>();
      while (at < history.size() && history[at] != item) ++at;
      ASSERT_LT(at, history.size()) << "not a subsequence";
      ++at;
    }
    std::vector<int64_t> kept_items(n);
    for (int64_t j = 0; j < n; ++j) kept_items[j] = batch.aug.item_seq[b][j].item<int64_t>();
    const std::vector<int64_t> expected = interest_ids(kept_items.data(), n, 50, tables);
    const int64_t width = batch.aug.interest_seq.size(1);
    ASSERT_GE(width, static_cast<int64_t>(expected.size()));
    for (int64_t j = 0; j < width; ++j) {
      const int64_t want = j < static_cast<int64_t>(expected.size()) ? expected[static_cast<size_t>(j)] : 0;
      EXPECT_EQ(batch.aug.interest_seq[b][j].item<int64_t>(), want) << "sample " << b << ", column " << j;
    }
    // The view's interest ids likewise: its history's, then zero padding to the width.
    const std::vector<int64_t> view_expected =
        interest_ids(history.data(), static_cast<int64_t>(history.size()), 50, tables);
    const int64_t view_width = batch.view.interest_seq.size(1);
    ASSERT_GE(view_width, static_cast<int64_t>(view_expected.size()));
    for (int64_t j = 0; j < view_width; ++j) {
      const int64_t want = j < static_cast<int64_t>(view_expected.size()) ? view_expected[static_cast<size_t>(j)] : 0;
      EXPECT_EQ(batch.view.interest_seq[b][j].item<int64_t>(), want) << "view sample " << b << ", column " << j;
    }
    kept += n - 1;
    total += static_cast<int64_t>(history.size()) - 1;
  }
  const double drop_rate = 1.0 - static_cast<double>(kept) / static_cast<double>(total);
  EXPECT_NEAR(drop_rate, 0.2, 0.06);
}

TEST(BuildBatch, WordDropKeepsTheSequenceAndMarksPositions) {
  at::manual_seed(0);
  const InterestState tables = random_tables(40);
  BatchOptions options;
  options.item_drop_prob = 0.0;
  const Batch batch = build_batch(make_samples(64, 0), 0, 0, tables, options);
  ASSERT_FALSE(batch.item_drop);
  EXPECT_TRUE(at::equal(batch.aug.item_seq, batch.view.item_seq));
  EXPECT_TRUE(at::equal(batch.aug.interest_seq, batch.view.interest_seq));
  const at::Tensor padding = batch.view.item_seq.eq(0);
  EXPECT_FALSE(batch.text_aug_mask.logical_and(padding).any().item<bool>());
  const double rate = batch.text_aug_mask.sum().item<double>() / padding.logical_not().sum().item<double>();
  EXPECT_NEAR(rate, 0.2, 0.06);
}

TEST(BuildBatch, DrawsDependOnPositionNotOnBatchComposition) {
  at::manual_seed(0);
  const InterestState tables = random_tables(40);
  BatchOptions options;
  options.item_drop_prob = 1.0;
  const std::vector<RawSample> all = make_samples(8, 40);
  const Batch whole = build_batch(all, 2, 9, tables, options);
  // The same samples split over two "ranks" get the same augmented histories.
  const std::vector<RawSample> second_half(all.begin() + 4, all.end());
  const Batch half = build_batch(second_half, 2, 9, tables, options);
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t n = whole.aug.item_length[4 + b].item<int64_t>();
    ASSERT_EQ(half.aug.item_length[b].item<int64_t>(), n);
    EXPECT_TRUE(at::equal(half.aug.item_seq[b].narrow(0, 0, n), whole.aug.item_seq[4 + b].narrow(0, 0, n)));
  }
  const Batch again = build_batch(all, 2, 9, tables, options);
  EXPECT_TRUE(at::equal(again.aug.item_seq, whole.aug.item_seq));
}

}  // namespace
}  // namespace missrec::data
