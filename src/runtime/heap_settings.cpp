#include "runtime/heap_settings.h"

#include <dlfcn.h>
#include <glog/logging.h>
#include <malloc.h>

#include <cstdlib>

namespace missrec::runtime {

HeapAllocator process_heap_allocator() {
  static const HeapAllocator allocator =
      dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr ? HeapAllocator::kTcmalloc : HeapAllocator::kGlibc;
  return allocator;
}

const char* heap_allocator_name(HeapAllocator allocator) {
  return allocator == HeapAllocator::kTcmalloc ? "tcmalloc" : "glibc malloc";
}

void keep_freed_memory() {
  if (process_heap_allocator() == HeapAllocator::kTcmalloc) return;
  for (const char* name : {"GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(name) != nullptr) return;
  }
  // glibc refuses an mmap threshold above half its 64 MB arena heap size.
  constexpr int kLargestMmapThreshold = 32 << 20;
  constexpr int kTrimThreshold = 1 << 30;
  constexpr int kTopPad = 256 << 20;
  // mallopt reports failure with 0; the defaults then stay, which costs time, not results.
  if (mallopt(M_MMAP_THRESHOLD, kLargestMmapThreshold) == 0 || mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 0 ||
      mallopt(M_TOP_PAD, kTopPad) == 0) {
    LOG(WARNING) << "mallopt refused a setting: freed memory may go back to the kernel (slower steps)";
  }
}

}  // namespace missrec::runtime
