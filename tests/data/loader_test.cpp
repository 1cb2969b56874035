// The loader under mpirun at any -np: every sample exactly once per epoch, the same
// global batches as one rank computes alone, the same batches for the same seed.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "data/keyed_random.h"
#include "data/sample_reader.h"
#include "support/mpi_test_env.h"
#include "tools/synth.h"

namespace missrec::data {
namespace {

using missrec::testing::comm;

// A small synthetic dataset, written once by rank 0.
const std::string& dataset_dir() {
  static const std::string dir = [] {
    // Every rank must agree on the name: take rank 0's pid.
    at::Tensor id = at::full({1}, static_cast<int64_t>(::getpid()), at::kLong);
    comm().broadcast(id, 0);
    const std::string path =
        (std::filesystem::temp_directory_path() / ("missrec_loader_test_" + std::to_string(id.item<int64_t>())))
            .string();
    if (comm().rank() == 0) {
      tools::SynthOptions options;
      options.preset = "downstream";
      options.scale = 0.1;
      options.feature_dim = 8;
      tools::synthesize(options, path);
    }
    comm().barrier();
    return path;
  }();
  return dir;
}

std::shared_ptr<const InterestState> tables_for(const Dataset& dataset) {
  auto tables = std::make_shared<InterestState>();
  const int64_t rows = dataset.total_items() + 1;
  tables->text_interest = (at::arange(rows, at::kLong) % 7) + 1;
  tables->image_interest = (at::arange(rows, at::kLong) % 5) + 3;
  tables->text_interest[0] = 0;
  tables->image_interest[0] = 0;
  return tables;
}

// One int64 per sample that depends on its position, target and history.
at::Tensor fingerprints(const Batch& batch) {
  const int64_t count = batch.pos_item.size(0);
  at::Tensor out = at::empty({count, 2}, at::kLong);
  for (int64_t b = 0; b < count; ++b) {
    uint64_t h = keyed_hash(static_cast<uint64_t>(batch.pos_item[b].item<int64_t>()));
    const int64_t n = batch.view.item_length[b].item<int64_t>();
    for (int64_t j = 0; j < n; ++j) h = keyed_hash(h, static_cast<uint64_t>(batch.view.item_seq[b][j].item<int64_t>()));
    out[b][0] = batch.sample_position[b].item<int64_t>();
    out[b][1] = static_cast<int64_t>(h >> 1);
  }
  return out;
}

// How often each content fingerprint occurs among the train samples of the files.
std::map<int64_t, int64_t> file_fingerprints(const Dataset& dataset) {
  std::map<int64_t, int64_t> counts;
  SampleReader reader;
  for (const DomainInfo& domain : dataset.domains()) {
    const auto found = domain.splits.find("train");
    if (found == domain.splits.end()) continue;
    for (const SampleSegment& segment : found->second) {
      for (int64_t s = 0; s < segment.size(); ++s) {
        const SampleView sample = reader.at(segment, s);
        uint64_t h = keyed_hash(static_cast<uint64_t>(domain.first_global_id + sample.target));
        for (int64_t k = 0; k < sample.length; ++k) {
          h = keyed_hash(h, static_cast<uint64_t>(domain.first_global_id + sample.items[k]));
        }
        counts[static_cast<int64_t>(h >> 1)] += 1;
      }
    }
  }
  return counts;
}

// Every (position, fingerprint) the epoch yields on this rank.
at::Tensor epoch_fingerprints(const Dataset& dataset, int rank, int world, int64_t epoch, int64_t batch_size,
                              int64_t* steps, bool keep_partial = false) {
  LoaderOptions options;
  options.global_batch = batch_size;
  options.rank = rank;
  options.world_size = world;
  options.prefetch = 2;
  options.keep_partial = keep_partial;
  Loader loader(dataset, options);
  loader.start_epoch(epoch, 0, tables_for(dataset));
  std::vector<at::Tensor> parts;
  *steps = 0;
  const int64_t full_steps = dataset.samples("train") / batch_size;
  const int64_t tail = dataset.samples("train") % batch_size;
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->step, *steps);
    if (*steps < full_steps) {
      EXPECT_EQ(batch->pos_item.size(0), batch_size / world);
      EXPECT_EQ(batch->global_size, batch_size);
    } else {  // the partial batch: spread evenly, lower ranks one more
      EXPECT_EQ(batch->global_size, tail);
      EXPECT_EQ(batch->pos_item.size(0), tail / world + (rank < tail % world ? 1 : 0));
    }
    parts.push_back(fingerprints(*batch));
    ++*steps;
  }
  EXPECT_EQ(*steps, loader.steps_per_epoch());
  return parts.empty() ? at::empty({0, 2}, at::kLong) : at::cat(parts);
}

TEST(Loader, KeptPartialBatchGivesEverySampleOnceAndTheSameBatchesAsOneRank) {
  const Dataset dataset = Dataset::open(dataset_dir());
  const int world = comm().size();
  const int64_t samples = dataset.samples("train");
  // A batch size whose tail has at least a sample per rank and, where one exists, splits
  // unevenly over the ranks.
  int64_t batch_size = 0;
  for (const bool uneven : {true, false}) {
    for (int64_t per_rank = 13; per_rank > 1 && batch_size == 0; --per_rank) {
      const int64_t tail = samples % (per_rank * world);
      if (tail >= world && (!uneven || tail % world != 0)) batch_size = per_rank * world;
    }
  }
  ASSERT_GT(batch_size, 0) << samples << " samples";
  int64_t steps = 0;
  const at::Tensor mine = epoch_fingerprints(dataset, comm().rank(), world, 2, batch_size, &steps, true);
  EXPECT_EQ(steps, samples / batch_size + 1);
  const at::Tensor gathered = comm().allgather_variable(mine);
  ASSERT_EQ(gathered.size(0), samples);
  const at::Tensor order = gathered.select(1, 0).argsort();
  EXPECT_TRUE(at::equal(gathered.select(1, 0).index_select(0, order), at::arange(samples, at::kLong)));
  int64_t single_steps = 0;
  const at::Tensor single = epoch_fingerprints(dataset, 0, 1, 2, batch_size, &single_steps, true);
  EXPECT_TRUE(at::equal(gathered.index_select(0, order), single.index_select(0, single.select(1, 0).argsort())));
}

TEST(Loader, PartialBatchWithFewerSamplesThanRanksIsDropped) {
  const Dataset dataset = Dataset::open(dataset_dir());
  const int64_t samples = dataset.samples("train");
  LoaderOptions options;
  options.keep_partial = true;
  options.world_size = 3;
  while (samples % options.world_size == 0) ++options.world_size;
  options.global_batch = samples - samples % options.world_size;  // tail: 1 .. world_size - 1
  const Loader loader(dataset, options);
  EXPECT_EQ(loader.steps_per_epoch(), 1);
  EXPECT_EQ(loader.dropped_per_epoch(), samples % options.world_size);
}

TEST(Loader, EverySampleOncePerEpochAndTheSameGlobalBatchesAsOneRank) {
  const Dataset dataset = Dataset::open(dataset_dir());
  const int world = comm().size();
  const int64_t batch_size = 12 * world;  // divisible at any -np
  int64_t steps = 0;
  const at::Tensor mine = epoch_fingerprints(dataset, comm().rank(), world, 1, batch_size, &steps);
  const at::Tensor gathered = comm().allgather_variable(mine);
  const int64_t expected_samples = (dataset.samples("train") / batch_size) * batch_size;
  ASSERT_EQ(gathered.size(0), expected_samples);
  // Positions: exactly [0, steps * B), each once.
  const at::Tensor positions = std::get<0>(gathered.select(1, 0).sort());
  EXPECT_TRUE(at::equal(positions, at::arange(expected_samples, at::kLong)));
  // Content: what one rank alone yields for the same global batches.
  int64_t single_steps = 0;
  const at::Tensor single = epoch_fingerprints(dataset, 0, 1, 1, batch_size, &single_steps);
  EXPECT_EQ(single_steps, steps);
  const at::Tensor order = gathered.select(1, 0).argsort();
  const at::Tensor sorted = gathered.index_select(0, order);
  const at::Tensor single_sorted = single.index_select(0, single.select(1, 0).argsort());
  EXPECT_TRUE(at::equal(sorted, single_sorted));
  // Content: the epoch's samples are distinct samples of the files. Each content
  // fingerprint occurs at most as often as in the dataset itself, read here without the
  // loader: a sample served twice in place of another fails this.
  std::map<int64_t, int64_t> in_files = file_fingerprints(dataset);
  for (int64_t i = 0; i < single.size(0); ++i) {
    const int64_t fingerprint = single[i][1].item<int64_t>();
    EXPECT_GE(--in_files[fingerprint], 0) << "sample content " << fingerprint << " served more often than it exists";
  }
}

TEST(Loader, SameSeedSameBatchesOtherEpochOtherOrder) {
  const Dataset dataset = Dataset::open(dataset_dir());
  int64_t steps = 0;
  const at::Tensor first = epoch_fingerprints(dataset, comm().rank(), comm().size(), 4, 8 * comm().size(), &steps);
  const at::Tensor again = epoch_fingerprints(dataset, comm().rank(), comm().size(), 4, 8 * comm().size(), &steps);
  EXPECT_TRUE(at::equal(first, again));
  const at::Tensor other = epoch_fingerprints(dataset, comm().rank(), comm().size(), 5, 8 * comm().size(), &steps);
  EXPECT_FALSE(at::equal(first, other));
}

TEST(Loader, ResumeFromACursorYieldsTheRemainingBatches) {
  const Dataset dataset = Dataset::open(dataset_dir());
  LoaderOptions options;
  options.global_batch = 10 * comm().size();
  options.rank = comm().rank();
  options.world_size = comm().size();
  Loader loader(dataset, options);
  auto tables = tables_for(dataset);
  loader.start_epoch(2, 0, tables);
  std::vector<Batch> full;
  while (auto batch = loader.next()) full.push_back(std::move(*batch));
  loader.start_epoch(2, 3, tables);
  int64_t step = 3;
  while (auto batch = loader.next()) {
    ASSERT_LT(step, static_cast<int64_t>(full.size()));
    EXPECT_TRUE(at::equal(batch->view.item_seq, full[step].view.item_seq));
    EXPECT_TRUE(at::equal(batch->aug.item_seq, full[step].aug.item_seq));
    ++step;
  }
  EXPECT_EQ(step, static_cast<int64_t>(full.size()));
}

TEST(Loader, WindowsOfStepsGiveTheBatchesOfOneWholeEpochShare) {
  const Dataset dataset = Dataset::open(dataset_dir());
  auto tables = tables_for(dataset);
  auto epoch_batches = [&](int64_t window_samples, int64_t first_step) {
    LoaderOptions options;
    options.global_batch = 10 * comm().size();
    options.rank = comm().rank();
    options.world_size = comm().size();
    options.window_samples = window_samples;
    Loader loader(dataset, options);
    loader.start_epoch(1, first_step, tables);
    std::vector<Batch> batches;
    while (auto batch = loader.next()) batches.push_back(std::move(*batch));
    return batches;
  };
  const std::vector<Batch> whole = epoch_batches(int64_t{1} << 40, 0);
  ASSERT_GT(whole.size(), 4u);
  // Windows of 1 and of 2 steps, from the start and mid-epoch.
  for (const auto& [window, first] : {std::pair<int64_t, int64_t>{1, 0}, {25, 0}, {25, 2}}) {
    const std::vector<Batch> windowed = epoch_batches(window, first);
    ASSERT_EQ(windowed.size() + first, whole.size()) << window;
    for (size_t i = 0; i < windowed.size(); ++i) {
      EXPECT_TRUE(at::equal(windowed[i].view.item_seq, whole[i + first].view.item_seq)) << window << " " << i;
      EXPECT_TRUE(at::equal(windowed[i].pos_item, whole[i + first].pos_item)) << window << " " << i;
    }
  }
}

TEST(Loader, InterestWidthIsTheGlobalMaximum) {
  const Dataset dataset = Dataset::open(dataset_dir());
  LoaderOptions options;
  options.global_batch = 6 * comm().size();
  options.rank = comm().rank();
  options.world_size = comm().size();
  Loader loader(dataset, options);
  loader.start_epoch(0, 0, tables_for(dataset));
  auto batch = loader.next();
  ASSERT_TRUE(batch.has_value());
  const int64_t local_width = batch->view.interest_seq.size(1);
  pad_interests_globally(*batch, comm());
  at::Tensor widest = at::full({1}, local_width, at::kLong);
  comm().allreduce(widest, runtime::ReduceOp::kMax);
  EXPECT_EQ(batch->view.interest_seq.size(1), widest.item<int64_t>());
}

TEST(Loader, CleanUp) {
  comm().barrier();
  if (comm().rank() == 0) std::filesystem::remove_all(dataset_dir());
}

}  // namespace
}  // namespace missrec::data
