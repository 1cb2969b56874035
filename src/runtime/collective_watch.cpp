#include "runtime/collective_watch.h"

#include <glog/logging.h>

#include <algorithm>

#include "runtime/abort.h"
#include "runtime/peer_census.h"

namespace missrec::runtime {

CollectiveWatch::Scope::~Scope() { watch_->finish(); }

CollectiveWatch::CollectiveWatch(int rank, int world_size, std::string host, double timeout_s, bool run_watchdog,
                                 PeerCensus* census)
    : rank_(rank), world_size_(world_size), host_(std::move(host)), timeout_s_(timeout_s), census_(census) {
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
  using Clock = std::chrono::steady_clock;
  const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s_));
  // With a census the loop also wakes every 200 ms to answer the other ranks' questions.
  const auto tick = std::chrono::milliseconds(200);
  // A collective still in flight after this long asks who still answers (once).
  const auto suspicion_delay =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(5.0, timeout_s_ / 3)));
  const double survey_seconds = std::clamp(timeout_s_ / 4, 1.0, 5.0);
  uint64_t surveyed = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (census_ != nullptr) {
      lock.unlock();
      census_->serve(sequence_.load());
      lock.lock();
      if (stopping_) break;
    }
    if (!in_flight_) {
      const auto wanted = [this] { return stopping_ || in_flight_; };
      if (census_ != nullptr) {
        changed_.wait_for(lock, tick, wanted);
      } else {
        changed_.wait(lock, wanted);
      }
      continue;
    }
    const uint64_t watched = in_flight_sequence_;
    const auto deadline = started_ + timeout;
    const auto suspicion = started_ + suspicion_delay;
    const auto wake = census_ != nullptr ? std::min(deadline, Clock::now() + tick) : deadline;
    changed_.wait_until(lock, wake, [&] { return stopping_ || !in_flight_ || in_flight_sequence_ != watched; });
    if (!in_flight_ || in_flight_sequence_ != watched) continue;
    const char* operation = operation_;
    const int64_t bytes = bytes_;
    const auto now = Clock::now();
    if (now >= deadline) {
      std::string peers;
      if (census_ != nullptr) {
        lock.unlock();
        peers = census_->survey(watched, survey_seconds).text;
        lock.lock();
      }
      log_timeout(operation, watched, bytes, peers);
      abort_job(1);
    }
    if (census_ != nullptr && now >= suspicion && surveyed != watched) {
      // Early word of a dead host or link, long before dist.timeout_s: the launcher
      // (Open MPI's daemon keepalive, Slurm) usually ends the job on its own then, and
      // this line says which ranks were lost and where.
      surveyed = watched;
      lock.unlock();
      const PeerCensus::Survey survey = census_->survey(watched, survey_seconds);
      lock.lock();
      if (!survey.everyone_answered && in_flight_ && in_flight_sequence_ == watched) {
        LOG(ERROR) << "collective " << operation << " #" << watched << " has waited "
                   << std::chrono::duration<double>(Clock::now() - started_).count() << " s on rank " << rank_ << " ("
                   << host_ << "): " << survey.text << "; the job ends at dist.timeout_s (" << timeout_s_
                   << " s) unless the launcher ends it first";
      }
    }
  }
}

void CollectiveWatch::log_timeout(const char* operation, uint64_t sequence, int64_t bytes,
                                  const std::string& peers) const {
  LOG(ERROR) << "fatal: collective timeout: " << operation << " #" << sequence << " (" << bytes
             << " bytes) has not completed after " << timeout_s_ << " s (dist.timeout_s) on rank " << rank_ << " of "
             << world_size_ << " (" << host_ << "); "
             << (peers.empty() ? "another rank is dead, stuck or skipped this collective" : peers)
             << "; aborting the job";
}

}  // namespace missrec::runtime
