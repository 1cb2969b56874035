#pragma once

#include <cstdint>

namespace missrec::runtime {

// Sets LibTorch's intra-op thread count for this rank and returns it: `requested` when
// positive (run.threads); otherwise the CPUs this process may run on — all of them when
// the launcher bound it to a subset, else the node's CPUs shared among its ranks.
int configure_threads(int64_t requested, int ranks_on_node);

// Sets LibTorch's intra-op (OpenMP) threads for a scope and restores them after, while
// OpenBLAS keeps its own thread count. The training step runs with one: its elementwise
// and small ops lose more to OpenMP fork/join than they gain, while its GEMMs still use
// every BLAS thread (measured on 2 cores, `missrec bench train --threads 2`: 98 samples/s
// with both at 2 threads, 177 with intra-op 1 and BLAS 2).
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
