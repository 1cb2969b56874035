// Format round trip: what DatasetWriter writes, Dataset/SampleReader/feature tables read
// back exactly; the epoch order covers every sample once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <filesystem>
#include <numeric>
#include <set>

#include "data/dataset.h"
#include "data/epoch_order.h"
#include "data/feature_table.h"
#include "data/sample_reader.h"
#include "runtime/error.h"
#include "tools/dataset_writer.h"

namespace missrec::data {
namespace {

using tools::DatasetWriter;
using tools::DomainContent;

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  const std::string dir =
      fs::temp_directory_path() / ("missrec_dataset_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

DomainContent make_domain(const std::string& name, int64_t items, int64_t dim, float base, bool with_aug) {
  DomainContent domain;
  domain.name = name;
  domain.n_items = items;
  for (int64_t i = 0; i < items * dim; ++i) {
    domain.text.push_back(base + 0.001f * static_cast<float>(i));
    domain.image.push_back(-base - 0.002f * static_cast<float>(i));
    if (with_aug) domain.text_aug.push_back(base + 0.5f);
  }
  for (int64_t i = 0; i < items; ++i) domain.tokens.push_back(name + std::to_string(i));
  SampleTable& train = domain.splits["train"];
  for (int64_t s = 0; s < 3 * items; ++s) {
    std::vector<int32_t> history;
    for (int64_t j = 0; j <= s % 5; ++j) history.push_back(static_cast<int32_t>((s + j) % items));
    train.add(history.data(), static_cast<int64_t>(history.size()), static_cast<int32_t>((s * 7) % items),
              static_cast<int32_t>(s));
  }
  return domain;
}

TEST(Dataset, WriteThenReadRoundTrips) {
  const std::string dir = temp_dir("roundtrip");
  const int64_t dim = 6;
  const DomainContent first = make_domain("A", 7, dim, 1.0f, true);
  const DomainContent second = make_domain("B", 5, dim, 2.0f, true);
  {
    DatasetWriter writer(dir, dim, dim);
    writer.add_domain(first, /*shards=*/3);
    writer.add_domain(second);
    writer.commit();
  }
  const Dataset dataset = Dataset::open(dir);
  ASSERT_EQ(dataset.domains().size(), 2u);
  EXPECT_EQ(dataset.total_items(), 12);
  EXPECT_EQ(dataset.domains()[0].shards.size(), 3u);
  EXPECT_EQ(dataset.domains()[1].first_global_id, 8);
  EXPECT_EQ(dataset.samples("train"), 36);
  EXPECT_TRUE(dataset.has_text_aug());

  const FeatureTables tables = load_feature_tables(dataset, at::kCPU, at::kFloat);
  ASSERT_EQ(tables.text.sizes(), (std::vector<int64_t>{13, dim}));
  EXPECT_TRUE(tables.text[0].eq(0).all().item<bool>()) << "row 0 is padding";
  const at::Tensor expected_first = at::from_blob(const_cast<float*>(first.text.data()), {7, dim});
  const at::Tensor expected_second = at::from_blob(const_cast<float*>(second.image.data()), {5, dim});
  EXPECT_TRUE(at::equal(tables.text.narrow(0, 1, 7), expected_first));
  EXPECT_TRUE(at::equal(tables.image.narrow(0, 8, 5), expected_second));

  const FeatureTables half = load_feature_tables(dataset, at::kCPU, at::kHalf);
  EXPECT_EQ(half.text.scalar_type(), at::kHalf);
  EXPECT_TRUE(at::allclose(half.text.to(at::kFloat), tables.text, 1e-2, 1e-2));

  SampleReader reader;
  const SampleSegment& segment = dataset.domains()[0].splits.at("train")[0];
  const SampleTable& table = first.splits.at("train");
  ASSERT_EQ(segment.size(), static_cast<int64_t>(table.target.size()));
  // Every sample, in row order, then rows 4 and 2 out of order (each read on its own).
  std::vector<int64_t> rows(static_cast<size_t>(segment.size()));
  for (int64_t r = 0; r < segment.size(); ++r) rows[static_cast<size_t>(r)] = r;
  reader.scan(segment, rows, [&](size_t i, const SampleView& sample) {
    EXPECT_EQ(std::vector<int32_t>(sample.items, sample.items + sample.length),
              std::vector<int32_t>(table.items.begin() + table.offsets[i], table.items.begin() + table.offsets[i + 1]))
        << i;
    EXPECT_EQ(sample.target, table.target[i]) << i;
  });
  for (int64_t row : {4, 2}) {
    const SampleView sample = reader.at(segment, row);
    EXPECT_EQ(sample.length, table.offsets[row + 1] - table.offsets[row]);
    EXPECT_EQ(sample.items[0], table.items[table.offsets[row]]);
    EXPECT_EQ(sample.target, table.target[row]);
  }
  std::vector<int64_t> lengths;
  reader.for_each_length(segment, [&](int64_t length) { lengths.push_back(length); });
  ASSERT_EQ(lengths.size(), table.target.size());
  for (size_t i = 0; i < lengths.size(); ++i) EXPECT_EQ(lengths[i], table.offsets[i + 1] - table.offsets[i]);
  fs::remove_all(dir);
}

TEST(Dataset, WriterRefusesExistingDirAndLeavesNothingOnFailure) {
  const std::string dir = temp_dir("exists");
  fs::create_directories(dir);
  EXPECT_THROW(DatasetWriter(dir, 4, 4), runtime::InputError);
  fs::remove_all(dir);
  std::string staging;
  {
    DatasetWriter writer(dir, 4, 4);
    staging = writer.staging_dir();
    writer.add_domain(make_domain("A", 3, 4, 1.0f, false));
    EXPECT_TRUE(fs::exists(staging));
  }  // not committed
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(dir));
}

TEST(Dataset, MissingManifestIsAnInputError) {
  try {
    Dataset::open("/nonexistent/dataset");
    FAIL();
  } catch (const runtime::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dataset/dataset.yaml"), std::string::npos);
  }
}

TEST(EpochOrder, EverySampleOnceAndSeeded) {
  std::vector<SampleSegment> segments(3);
  const int64_t sizes[] = {10, 1, 23};
  for (int s = 0; s < 3; ++s) segments[s].samples = sizes[s];
  const EpochOrder order(segments, 7, 0);
  ASSERT_EQ(order.size(), 34);
  std::set<std::pair<int, int64_t>> seen;
  std::vector<std::pair<int, int64_t>> sequence;
  for (int64_t p = 0; p < order.size(); ++p) {
    const SampleRef ref = order.at(p);
    EXPECT_TRUE(seen.emplace(ref.segment, ref.row).second) << "repeated at " << p;
    EXPECT_GE(ref.segment, 0);
    EXPECT_LT(ref.segment, 3);
    EXPECT_GE(ref.row, 0);
    EXPECT_LT(ref.row, sizes[ref.segment]);
    sequence.emplace_back(ref.segment, ref.row);
  }
  EXPECT_EQ(seen.size(), 34u);
  // Same (seed, epoch): same order, in any access order; another epoch: another order.
  const EpochOrder again(segments, 7, 0);
  for (int64_t p = order.size() - 1; p >= 0; --p) {
    EXPECT_EQ(std::make_pair(again.at(p).segment, again.at(p).row), sequence[p]);
  }
  const EpochOrder next_epoch(segments, 7, 1);
  int differences = 0;
  for (int64_t p = 0; p < order.size(); ++p) {
    differences += std::make_pair(next_epoch.at(p).segment, next_epoch.at(p).row) != sequence[p];
  }
  EXPECT_GT(differences, 0);
}

// The keyed bijection: every size from 0 to a few thousand (odd and even bit counts,
// powers of two and their neighbours) is permuted, keys change it, and it moves values.
TEST(KeyedPermutation, IsABijectionOfEverySize) {
  for (int64_t size : {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 1000, 4095, 4096, 4097, 10007}) {
    const KeyedPermutation permutation(size, 42);
    std::vector<int64_t> image;
    for (int64_t p = 0; p < size; ++p) image.push_back(permutation(p));
    std::vector<int64_t> sorted = image;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t p = 0; p < size; ++p) ASSERT_EQ(sorted[p], p) << "size " << size << " is not permuted";
    if (size >= 100) {
      int64_t fixed = 0, same_as_other_key = 0;
      const KeyedPermutation other(size, 43);
      for (int64_t p = 0; p < size; ++p) {
        fixed += image[p] == p;
        same_as_other_key += image[p] == other(p);
      }
      // A random permutation has one fixed point and one agreement on average.
      EXPECT_LT(fixed, 10) << size;
      EXPECT_LT(same_as_other_key, 10) << size;
    }
  }
}

TEST(KeyedPermutation, PositionsAreSpreadUniformly) {
  // Where the first tenth of the positions land: a tenth of them in each tenth of the
  // range (binomial, 4 standard deviations), for a size just over a power of 4 (the
  // worst case for cycle-walking).
  const int64_t size = (int64_t{1} << 16) + 3;
  const KeyedPermutation permutation(size, 9);
  std::vector<int64_t> counts(10, 0);
  const int64_t n = size / 10;
  for (int64_t p = 0; p < n; ++p) ++counts[static_cast<size_t>(permutation(p) * 10 / size)];
  for (const int64_t count : counts) EXPECT_NEAR(static_cast<double>(count), n / 10.0, 4 * std::sqrt(n * 0.09));
}

}  // namespace
}  // namespace missrec::data
