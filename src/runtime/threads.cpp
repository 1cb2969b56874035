#include "runtime/threads.h"

#include <ATen/Parallel.h>
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
    const int usable = sched_getaffinity(0, sizeof(allowed), &allowed) == 0
                           ? CPU_COUNT(&allowed)
                           : node_cpus;
    threads = usable < node_cpus ? usable : node_cpus / std::max(1, ranks_on_node);
    threads = std::max(1, threads);
  }
  at::set_num_threads(threads);
  return threads;
}

}  // namespace missrec::runtime
