#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>

namespace missrec::runtime {

// Numbers the collectives of one communicator and enforces dist.timeout_s on them.
// A collective that has not completed in time is reported (operation, number, bytes,
// rank, host) and the whole job is aborted: a stuck, dead or diverged rank never turns
// into a silent hang.
class CollectiveWatch {
 public:
  CollectiveWatch(int rank, int world_size, std::string host, double timeout_s);

  // Starts the next collective and returns its sequence number.
  uint64_t next(const char* operation);

  // Polls a non-blocking MPI request until it completes or the timeout expires.
  void wait(MPI_Request* request, const char* operation, uint64_t sequence,
            int64_t bytes) const;

  // Logs the timeout message (operation, number, bytes, rank, host).
  void log_timeout(const char* operation, uint64_t sequence, int64_t bytes) const;
  // log_timeout, then abort_job.
  [[noreturn]] void report_timeout(const char* operation, uint64_t sequence,
                                   int64_t bytes) const;

  double timeout_s() const { return timeout_s_; }
  int rank() const { return rank_; }
  const std::string& host() const { return host_; }

 private:
  int rank_;
  int world_size_;
  std::string host_;
  double timeout_s_;
  uint64_t sequence_ = 0;
};

}  // namespace missrec::runtime
