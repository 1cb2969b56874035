#include "runtime/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace missrec::runtime {

namespace {

std::atomic<int> configured_threads{0};

// OpenBLAS's own pool size, reached through the symbol table because LibTorch may be
// linked against another BLAS (then nothing is set).
void set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  for (const char* name : {"openblas_set_num_threads", "goto_set_num_threads"}) {
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, name))) {
      set(threads);
      return;
    }
  }
}

// OpenBLAS single-threaded for a scope, then `restore` threads.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(int restore) : restore_(restore) { set_blas_threads(1); }
  ~SingleThreadedBlas() { set_blas_threads(restore_); }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int restore_;
};

}  // namespace

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
  // node its busy-waiting threads oversubscribe the cores and slow the step down.
  set_blas_threads(threads);
  configured_threads = threads;
  return threads;
}

int rank_threads() {
  const int configured = configured_threads.load();
  return configured > 0 ? configured : at::get_num_threads();
}

void run_parts(int64_t parts, const std::function<void(int64_t)>& work) {
  const int threads = static_cast<int>(std::min<int64_t>(rank_threads(), parts));
  if (threads <= 1) {
    for (int64_t part = 0; part < parts; ++part) work(part);
    return;
  }
  const SingleThreadedBlas single_threaded_blas(rank_threads());
  const ScopedIntraOpThreads intra_op(threads);
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) work(part);
  });
}

ScopedIntraOpThreads::ScopedIntraOpThreads(int threads) : previous_(at::get_num_threads()) {
  if (threads != previous_) at::set_num_threads(threads);
}

ScopedIntraOpThreads::~ScopedIntraOpThreads() {
  if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
}

}  // namespace missrec::runtime
