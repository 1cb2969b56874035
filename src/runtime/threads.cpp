#include "runtime/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <thread>

namespace missrec::runtime {

int configure_threads(int64_t requested, int ranks_on_node) {
  int threads = static_cast<int>(requested);
  if (threads <= 0) {
    const int node_cpus = std::max(1u, std::thread::hardware_concurrency());
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    const int usable = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ? CPU_COUNT(&allowed) : node_cpus;
    threads = usable < node_cpus ? usable : node_cpus / std::max(1, ranks_on_node);
    threads = std::max(1, threads);
  }
  at::set_num_threads(threads);
  // OpenBLAS keeps its own thread pool sized to the whole node; with several ranks per
  // node its busy-waiting threads oversubscribe the cores (a 2-3x slower step measured
  // with 2 ranks on 2 cores). It is reached through the symbol table because LibTorch
  // may be linked against another BLAS.
  using SetThreads = void (*)(int);
  for (const char* name : {"openblas_set_num_threads", "goto_set_num_threads"}) {
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, name))) {
      set(threads);
      break;
    }
  }
  return threads;
}

ScopedIntraOpThreads::ScopedIntraOpThreads(int threads) : previous_(at::get_num_threads()) {
  if (threads != previous_) at::set_num_threads(threads);
}

ScopedIntraOpThreads::~ScopedIntraOpThreads() {
  if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
}

}  // namespace missrec::runtime
