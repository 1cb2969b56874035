#pragma once

#include <cstdint>

namespace missrec::runtime {

// Sets LibTorch's intra-op thread count for this rank and returns it: `requested` when
// positive (run.threads); otherwise the CPUs this process may run on — all of them when
// the launcher bound it to a subset, else the node's CPUs shared among its ranks.
int configure_threads(int64_t requested, int ranks_on_node);

}  // namespace missrec::runtime
