#pragma once

#include <cstdint>
#include <functional>

namespace missrec::runtime {

// Sets LibTorch's intra-op thread count for this rank and returns it: `requested` when
// positive (run.threads); otherwise the CPUs this process may run on — all of them when
// the launcher bound it to a subset, else the node's CPUs shared among its ranks.
int configure_threads(int64_t requested, int ranks_on_node);

// Sets LibTorch's intra-op (OpenMP) threads for a scope and restores them after, while
// OpenBLAS keeps its own thread count.
class ScopedIntraOpThreads;

// The thread count configure_threads chose for this rank (LibTorch's intra-op count
// before any is set: tests and tools that never configure).
int rank_threads();

// Runs work(part) for every part in [0, parts), spread over the rank's threads, each
// part on one thread and its BLAS calls single-threaded; returns when all are done and
// rethrows the first exception. For kernels of many small products: one fork per kernel
// instead of one per product, and no BLAS pool woken for products of a few hundred
// thousand multiply-adds.
void run_parts(int64_t parts, const std::function<void(int64_t)>& work);

class ScopedIntraOpThreads {
 public:
  explicit ScopedIntraOpThreads(int threads);
  ~ScopedIntraOpThreads();
  ScopedIntraOpThreads(const ScopedIntraOpThreads&) = delete;
  ScopedIntraOpThreads& operator=(const ScopedIntraOpThreads&) = delete;

 private:
  int previous_;
};

}  // namespace missrec::runtime
