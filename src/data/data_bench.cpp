#include "data/data_bench.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "data/dataset.h"
#include "data/epoch_order.h"
#include "data/epoch_share.h"
#include "data/h5_file.h"
#include "data/loader.h"
#include "data/sample_reader.h"
#include "runtime/process_memory.h"

namespace missrec::data {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<SampleSegment> train_segments(const Dataset& dataset) {
  std::vector<SampleSegment> segments;
  for (const DomainInfo& domain : dataset.domains()) {
    const auto found = domain.splits.find("train");
    if (found == domain.splits.end()) continue;
    segments.insert(segments.end(), found->second.begin(), found->second.end());
  }
  return segments;
}

}  // namespace

std::string run_data_bench(const DataBenchOptions& options) {
  const Dataset dataset = Dataset::open(options.dataset_dir);
  auto tables = std::make_shared<InterestTables>();
  const int64_t rows = dataset.total_items() + 1;
  const int64_t clusters = std::max<int64_t>(2, (2 * dataset.total_items()) / 50);
  tables->text_interest = at::randint(1, clusters + 1, {rows}, at::kLong);
  tables->image_interest = at::randint(1, clusters + 1, {rows}, at::kLong);
  tables->text_interest[0] = 0;
  tables->image_interest[0] = 0;

  // 1. Loader end to end, as rank 0 of world_size: the epoch's order, the share's
  // gather, assembly of both views, prefetch thread.
  LoaderOptions loader_options;
  loader_options.global_batch = options.global_batch;
  loader_options.world_size = options.world_size;
  loader_options.batch.max_seq_len = options.max_seq_len;
  Loader loader(dataset, loader_options);
  int64_t batches = 0;
  int64_t samples = 0;
  int64_t history_items = 0;
  auto start = std::chrono::steady_clock::now();
  loader.start_epoch(0, 0, tables);
  while (auto batch = loader.next()) {
    ++batches;
    samples += batch->pos_item.size(0);
    history_items += batch->view.item_length.sum().item<int64_t>();
    if (options.max_batches > 0 && batches >= options.max_batches) break;
  }
  const double loader_seconds = seconds_since(start);

  // 2. The order and the share's gather alone; and 3. a plain sequential read of the
  // same datasets (one read per dataset). Best of a few passes each: the data is small
  // and timings on a shared machine are noisy.
  const std::vector<SampleSegment> segments = train_segments(dataset);
  const RankSlice slice = loader.slice();
  const int64_t steps = loader.steps_per_epoch();
  double share_seconds = 1e30;
  double sequential_seconds = 1e30;
  double share_read_mb = 0.0;
  double sequential_mb = 0.0;
  for (int pass = 0; pass < 5; ++pass) {
    SampleReader reader;
    start = std::chrono::steady_clock::now();
    {
      const EpochOrder order(segments, 2020, pass);
      const EpochShare share(segments, order, slice, 0, steps, reader);
    }
    share_seconds = std::min(share_seconds, seconds_since(start));
    share_read_mb = static_cast<double>(reader.bytes_read()) / 1e6;

    start = std::chrono::steady_clock::now();
    int64_t sequential_bytes = 0;
    for (const SampleSegment& segment : segments) {
      const H5File file = H5File::open_read(segment.path);
      sequential_bytes += 4 * static_cast<int64_t>(file.read_int32("/samples/train/items").size());
    }
    sequential_seconds = std::min(sequential_seconds, seconds_since(start));
    sequential_mb = static_cast<double>(sequential_bytes) / 1e6;
  }

  nlohmann::ordered_json json;
  json["bench"] = "data";
  json["dataset"] = options.dataset_dir;
  json["order"] = "uniform";
  json["global_batch"] = options.global_batch;
  json["ranks"] = options.world_size;
  json["rank_batch"] = slice.local();
  json["train_samples"] = loader.samples_per_epoch();
  json["batches"] = batches;
  json["samples"] = samples;
  json["mean_history"] = static_cast<double>(history_items) / std::max<int64_t>(samples, 1);
  json["batches_per_s"] = batches / loader_seconds;
  json["samples_per_s"] = samples / loader_seconds;
  json["consumer_wait_s"] = loader.stats().wait_seconds;
  json["share_gather_s"] = share_seconds;
  json["share_read_mb"] = share_read_mb;
  json["sequential_read_s"] = sequential_seconds;
  json["sequential_read_mb"] = sequential_mb;
  json["peak_rss_mb"] = runtime::peak_rss_mb();
  return json.dump();
}

}  // namespace missrec::data
