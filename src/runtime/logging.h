#pragma once

#include <string>

namespace missrec::runtime {

// glog for the whole process: stderr only, every line prefixed with level, time, rank
// and host; INFO only from rank 0, WARNING and above from every rank; the failure
// signal handler installed. Call once, as soon as the rank is known.
void init_logging(const char* argv0, int rank, int world_size, const std::string& host);

// Lowers the threshold again after init (tests, --verbose); rank 0 keeps INFO.
void set_log_level_for_rank(int rank);

}  // namespace missrec::runtime
