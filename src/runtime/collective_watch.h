#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace missrec::runtime {

class PeerCensus;

// Numbers the collectives of one communicator and enforces dist.timeout_s on them. A
// watchdog thread watches the collective in flight; one that has not completed in time
// is reported (operation, number, bytes, rank, host, and with a PeerCensus the ranks and
// hosts that stopped answering) and the whole job is aborted, so a stuck, dead, cut-off
// or diverged rank never turns into a silent hang. The issuing thread uses
// the library's blocking (fastest) collectives and pays two uncontended locks per call.
class CollectiveWatch {
 public:
  // The collective in flight, from construction to destruction.
  class Scope {
   public:
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    uint64_t sequence() const { return sequence_; }

   private:
    friend class CollectiveWatch;
    Scope(CollectiveWatch* watch, uint64_t sequence) : watch_(watch), sequence_(sequence) {}
    CollectiveWatch* watch_;
    uint64_t sequence_;
  };

  // run_watchdog=false: numbering and messages only (a backend with its own watchdog).
  // `census` (may be null, must outlive the watch) is served and asked by the watchdog.
  CollectiveWatch(int rank, int world_size, std::string host, double timeout_s, bool run_watchdog = true,
                  PeerCensus* census = nullptr);
  ~CollectiveWatch();
  CollectiveWatch(const CollectiveWatch&) = delete;
  CollectiveWatch& operator=(const CollectiveWatch&) = delete;

  // Starts the next collective: numbered, and watched until the Scope ends.
  [[nodiscard]] Scope begin(const char* operation, int64_t bytes);
  // The next sequence number, for backends that track completion themselves.
  uint64_t next();

  // Logs the timeout message (operation, number, bytes, rank, host; `peers`: who answers).
  void log_timeout(const char* operation, uint64_t sequence, int64_t bytes, const std::string& peers = "") const;

  double timeout_s() const { return timeout_s_; }
  int rank() const { return rank_; }
  const std::string& host() const { return host_; }

 private:
  void finish();
  void watch_loop();

  int rank_;
  int world_size_;
  std::string host_;
  double timeout_s_;
  std::atomic<uint64_t> sequence_{0};
  PeerCensus* census_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool in_flight_ = false;
  bool stopping_ = false;
  const char* operation_ = "";
  uint64_t in_flight_sequence_ = 0;
  int64_t bytes_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::thread watchdog_;
};

}  // namespace missrec::runtime
