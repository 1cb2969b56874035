#pragma once

namespace missrec::runtime {

// The process's peak resident set so far, in MiB (getrusage's ru_maxrss).
double peak_rss_mb();

}  // namespace missrec::runtime
