#include "runtime/collective_watch.h"

#include <glog/logging.h>
#include <sched.h>

#include <chrono>
#include <thread>

#include "runtime/abort.h"
#include "runtime/mpi_check.h"

namespace missrec::runtime {

CollectiveWatch::CollectiveWatch(int rank, int world_size, std::string host, double timeout_s)
    : rank_(rank), world_size_(world_size), host_(std::move(host)), timeout_s_(timeout_s) {
  CHECK_GT(timeout_s_, 0.0);
}

uint64_t CollectiveWatch::next(const char* /*operation*/) { return ++sequence_; }

void CollectiveWatch::wait(MPI_Request* request, const char* operation, uint64_t sequence,
                           int64_t bytes) const {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(timeout_s_));
  // Open MPI progresses non-blocking collectives only inside MPI calls, so poll
  // tightly at first; a collective still open after a while is waiting for another
  // rank, and then the poll backs off to leave the core to that rank.
  for (uint64_t polls = 0;; ++polls) {
    int done = 0;
    MISSREC_MPI_CHECK(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if ((polls & 255) != 0) continue;
    const auto now = Clock::now();
    if (now >= deadline) report_timeout(operation, sequence, bytes);
    const auto waited = now - start;
    if (waited > std::chrono::seconds(1)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else if (waited > std::chrono::milliseconds(5)) {
      sched_yield();
    }
  }
}

void CollectiveWatch::report_timeout(const char* operation, uint64_t sequence,
                                     int64_t bytes) const {
  log_timeout(operation, sequence, bytes);
  abort_job(1);
}

void CollectiveWatch::log_timeout(const char* operation, uint64_t sequence,
                                  int64_t bytes) const {
  LOG(ERROR) << "fatal: collective timeout: " << operation << " #" << sequence << " ("
             << bytes << " bytes) has not completed after " << timeout_s_
             << " s (dist.timeout_s) on rank " << rank_ << " of " << world_size_ << " ("
             << host_ << "); another rank is dead, stuck or skipped this collective; "
             << "aborting the job";
}

}  // namespace missrec::runtime
