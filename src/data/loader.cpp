#include "data/loader.h"

#include <glog/logging.h>

#include "data/epoch_order.h"
#include "data/epoch_share.h"
#include "runtime/error.h"
#include "runtime/stopwatch.h"

namespace missrec::data {

Loader::Loader(const Dataset& dataset, LoaderOptions options) : dataset_(dataset), options_(std::move(options)) {
  CHECK_GT(options_.world_size, 0);
  CHECK_GT(options_.prefetch, 0);
  if (options_.global_batch % options_.world_size != 0) {
    runtime::throw_input_error("train.batch_size", std::to_string(options_.global_batch) +
                                                       " does not split evenly over " +
                                                       std::to_string(options_.world_size) + " ranks");
  }
  for (const DomainInfo& domain : dataset_.domains()) {
    const auto found = domain.splits.find(options_.split);
    if (found == domain.splits.end()) continue;
    for (const SampleSegment& segment : found->second) {
      segments_.push_back(segment);
      samples_ += segment.size();
    }
  }
  if (samples_ < options_.global_batch) {
    runtime::throw_input_error(dataset_.dir(), "has " + std::to_string(samples_) + " " + options_.split +
                                                   " samples, fewer than one global batch of " +
                                                   std::to_string(options_.global_batch));
  }
}

Loader::~Loader() { stop_reader(); }

RankSlice Loader::slice() const {
  RankSlice slice{options_.global_batch, options_.rank, options_.world_size};
  slice.full_steps = samples_ / options_.global_batch;
  const int64_t tail = samples_ % options_.global_batch;
  if (options_.keep_partial && tail >= options_.world_size) slice.tail = tail;
  return slice;
}

void Loader::stop_reader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (reader_.joinable()) reader_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  queue_.clear();
  epoch_done_ = true;
}

void Loader::start_epoch(int64_t epoch, int64_t first_step, std::shared_ptr<const InterestState> tables) {
  CHECK(tables != nullptr);
  stop_reader();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    epoch_done_ = false;
    error_ = nullptr;
  }
  reader_ = std::thread([this, epoch, first_step, tables = std::move(tables)] {
    try {
      read_epoch(epoch, first_step, tables);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      epoch_done_ = true;
    }
    changed_.notify_all();
  });
}

void Loader::read_epoch(int64_t epoch, int64_t first_step, std::shared_ptr<const InterestState> tables) {
  const RankSlice slice = this->slice();
  SampleReader reader;
  const EpochOrder order(segments_, options_.batch.seed, epoch);
  // Windows of whole steps, each one scan of the files for its samples.
  const int64_t window_steps = std::max<int64_t>(1, options_.window_samples / std::max<int64_t>(1, slice.local()));
  for (int64_t window = first_step; window < steps_per_epoch(); window += window_steps) {
    const int64_t end = std::min(steps_per_epoch(), window + window_steps);
    const EpochShare share(segments_, order, slice, window, end, reader);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reader_bytes_ = reader.bytes_read();
    }
    for (int64_t step = window; step < end; ++step) {
      if (!queue_batch(make_batch(share, slice, epoch, step, *tables))) return;
    }
  }
}

Batch Loader::make_batch(const EpochShare& share, const RankSlice& slice, int64_t epoch, int64_t step,
                         const InterestState& tables) const {
  std::vector<RawSample> samples(static_cast<size_t>(slice.count(step)));
  for (int64_t i = 0; i < slice.count(step); ++i) {
    const ShareSample taken = share.at(step, i);
    const SampleSegment& segment = segments_[static_cast<size_t>(taken.segment)];
    const DomainInfo& domain = dataset_.domains()[static_cast<size_t>(segment.domain)];
    RawSample& sample = samples[static_cast<size_t>(i)];
    sample.domain = segment.domain;
    sample.position = taken.position;
    sample.target = domain.first_global_id + taken.target;
    sample.history.resize(static_cast<size_t>(taken.length));
    for (int64_t k = 0; k < taken.length; ++k) sample.history[k] = domain.first_global_id + taken.items[k];
  }
  Batch batch = build_batch(samples, epoch, step, tables, options_.batch);
  batch.global_size = slice.global_size(step);
  if (options_.pin_memory) pin_memory(batch);
  return batch;
}

bool Loader::queue_batch(Batch batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return stopping_ || static_cast<int64_t>(queue_.size()) < options_.prefetch; });
  if (stopping_) return false;
  queue_.push_back(std::move(batch));
  changed_.notify_all();
  return true;
}

std::optional<Batch> Loader::next() {
  const runtime::Stopwatch wait;
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !queue_.empty() || epoch_done_; });
  stats_.wait_seconds += wait.elapsed();
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }
  Batch batch = std::move(queue_.front());
  queue_.pop_front();
  stats_.batches += 1;
  stats_.samples += batch.pos_item.size(0);
  stats_.bytes_read = reader_bytes_;
  changed_.notify_all();
  return batch;
}

}  // namespace missrec::data
