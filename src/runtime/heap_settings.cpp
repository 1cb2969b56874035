#include "runtime/heap_settings.h"

#include <glog/logging.h>
#include <malloc.h>

#include <cstdlib>

namespace missrec::runtime {

void keep_freed_memory() {
  for (const char* name : {"GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(name) != nullptr) return;
  }
  constexpr int kTrimThreshold = 1 << 30;
  constexpr int kTopPad = 256 << 20;
  // mallopt reports failure with 0; the defaults then stay, which costs time, not results.
  if (mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 0 || mallopt(M_TOP_PAD, kTopPad) == 0) {
    LOG(WARNING) << "mallopt refused a setting: freed memory may go back to the kernel (slower steps)";
  }
}

}  // namespace missrec::runtime
