#include "tools/data_bench.h"

#include <cstdio>
#include <fstream>

#include "data/dataset.h"
#include "data/epoch_order.h"
#include "data/epoch_share.h"
#include "data/h5_file.h"
#include "data/loader.h"
#include "data/sample_reader.h"
#include "runtime/json_line.h"
#include "runtime/process_memory.h"
#include "runtime/stopwatch.h"

namespace missrec::tools {

using namespace missrec::data;  // NOLINT: this tool works on data's types

namespace {

std::vector<SampleSegment> train_segments(const Dataset& dataset) {
  std::vector<SampleSegment> segments;
  for (const DomainInfo& domain : dataset.domains()) {
    const auto found = domain.splits.find("train");
    if (found == domain.splits.end()) continue;
    segments.insert(segments.end(), found->second.begin(), found->second.end());
  }
  return segments;
}

// Best of a few passes of the order and the share's gather alone, and of a plain
// sequential read of the same datasets (one read per dataset): the data is small and
// timings on a shared machine are noisy.
struct ReadTimes {
  double share_s = 1e30;
  double share_mb = 0.0;
  double sequential_s = 1e30;
  double sequential_mb = 0.0;
};

ReadTimes time_reads(const std::vector<SampleSegment>& segments, const RankSlice& slice, int64_t steps) {
  ReadTimes times;
  for (int pass = 0; pass < 5; ++pass) {
    SampleReader reader;
    runtime::Stopwatch clock;
    {
      const EpochOrder order(segments, 2020, pass);
      const EpochShare share(segments, order, slice, 0, steps, reader);
    }
    times.share_s = std::min(times.share_s, clock.lap());
    times.share_mb = static_cast<double>(reader.bytes_read()) / 1e6;
    int64_t sequential_bytes = 0;
    for (const SampleSegment& segment : segments) {
      const H5File file = H5File::open_read(segment.path);
      sequential_bytes += 4 * static_cast<int64_t>(file.read_int32("/samples/train/items").size());
    }
    times.sequential_s = std::min(times.sequential_s, clock.lap());
    times.sequential_mb = static_cast<double>(sequential_bytes) / 1e6;
  }
  return times;
}

}  // namespace

std::string run_data_bench(const DataBenchOptions& options) {
  const Dataset dataset = Dataset::open(options.dataset_dir);
  auto tables = std::make_shared<InterestState>();
  const int64_t rows = dataset.total_items() + 1;
  const int64_t clusters = std::max<int64_t>(2, (2 * dataset.total_items()) / 50);
  tables->text_interest = at::randint(1, clusters + 1, {rows}, at::kLong);
  tables->image_interest = at::randint(1, clusters + 1, {rows}, at::kLong);
  tables->text_interest[0] = 0;
  tables->image_interest[0] = 0;

  // The loader end to end, as rank 0 of world_size: the epoch's order, the share's
  // gather, assembly of both views, prefetch thread.
  LoaderOptions loader_options;
  loader_options.global_batch = options.global_batch;
  loader_options.world_size = options.world_size;
  loader_options.batch.max_seq_len = options.max_seq_len;
  Loader loader(dataset, loader_options);
  int64_t batches = 0;
  int64_t samples = 0;
  int64_t history_items = 0;
  runtime::Stopwatch clock;
  loader.start_epoch(0, 0, tables);
  while (auto batch = loader.next()) {
    ++batches;
    samples += batch->pos_item.size(0);
    history_items += batch->view.item_length.sum().item<int64_t>();
    if (options.max_batches > 0 && batches >= options.max_batches) break;
  }
  const double loader_seconds = clock.lap();
  const ReadTimes reads = time_reads(train_segments(dataset), loader.slice(), loader.steps_per_epoch());
  return runtime::JsonLine()
      .add("bench", std::string("data"))
      .add("dataset", options.dataset_dir)
      .add("order", std::string("uniform"))
      .add("global_batch", options.global_batch)
      .add("ranks", options.world_size)
      .add("rank_batch", loader.slice().local())
      .add("train_samples", loader.samples_per_epoch())
      .add("batches", batches)
      .add("samples", samples)
      .add("mean_history", static_cast<double>(history_items) / std::max<int64_t>(samples, 1))
      .add("batches_per_s", batches / loader_seconds)
      .add("samples_per_s", samples / loader_seconds)
      .add("consumer_wait_s", loader.stats().wait_seconds)
      .add("share_gather_s", reads.share_s)
      .add("share_read_mb", reads.share_mb)
      .add("sequential_read_s", reads.sequential_s)
      .add("sequential_read_mb", reads.sequential_mb)
      .add("peak_rss_mb", runtime::peak_rss_mb())
      .str();
}

}  // namespace missrec::tools
