#include "runtime/heap_settings.h"

#include <malloc.h>

#include <cstdlib>

namespace missrec::runtime {

void keep_freed_memory() {
  for (const char* name : {"GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(name) != nullptr) return;
  }
  constexpr int kLargeBlock = 1 << 30;
  constexpr int kTopPad = 256 << 20;
  // mallopt reports failure with 0; the defaults then stay, which costs time, not results.
  (void)mallopt(M_MMAP_THRESHOLD, kLargeBlock);
  (void)mallopt(M_TRIM_THRESHOLD, kLargeBlock);
  (void)mallopt(M_TOP_PAD, kTopPad);
}

}  // namespace missrec::runtime
