#include "runtime/collective_watch.h"

#include <glog/logging.h>

#include "runtime/abort.h"

namespace missrec::runtime {

CollectiveWatch::Scope::~Scope() { watch_->finish(); }

CollectiveWatch::CollectiveWatch(int rank, int world_size, std::string host, double timeout_s, bool run_watchdog)
    : rank_(rank), world_size_(world_size), host_(std::move(host)), timeout_s_(timeout_s) {
  CHECK_GT(timeout_s_, 0.0);
  if (run_watchdog) watchdog_ = std::thread([this] { watch_loop(); });
}

CollectiveWatch::~CollectiveWatch() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

uint64_t CollectiveWatch::next() { return ++sequence_; }

CollectiveWatch::Scope CollectiveWatch::begin(const char* operation, int64_t bytes) {
  const uint64_t sequence = next();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_ = true;
    operation_ = operation;
    in_flight_sequence_ = sequence;
    bytes_ = bytes;
    started_ = std::chrono::steady_clock::now();
  }
  changed_.notify_one();
  return Scope(this, sequence);
}

void CollectiveWatch::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_ = false;
}

void CollectiveWatch::watch_loop() {
  const auto timeout =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_s_));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (!in_flight_) {
      changed_.wait(lock, [this] { return stopping_ || in_flight_; });
      continue;
    }
    const uint64_t watched = in_flight_sequence_;
    const auto deadline = started_ + timeout;
    changed_.wait_until(lock, deadline, [&] { return stopping_ || !in_flight_ || in_flight_sequence_ != watched; });
    if (in_flight_ && in_flight_sequence_ == watched && std::chrono::steady_clock::now() >= deadline) {
      log_timeout(operation_, watched, bytes_);
      abort_job(1);
    }
  }
}

void CollectiveWatch::log_timeout(const char* operation, uint64_t sequence, int64_t bytes) const {
  LOG(ERROR) << "fatal: collective timeout: " << operation << " #" << sequence << " (" << bytes
             << " bytes) has not completed after " << timeout_s_ << " s (dist.timeout_s) on rank " << rank_ << " of "
             << world_size_ << " (" << host_ << "); another rank is dead, stuck or skipped this collective; "
             << "aborting the job";
}

}  // namespace missrec::runtime
