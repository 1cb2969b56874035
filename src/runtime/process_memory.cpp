#include "runtime/process_memory.h"

#include <sys/resource.h>

namespace missrec::runtime {

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace missrec::runtime
