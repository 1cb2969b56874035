#pragma once

#include <string>
#include <vector>

#include "runtime/comm.h"

namespace missrec::cli {

struct CheckResult {
  std::string name;
  bool passed = false;
  std::string detail;  // first mismatch when failed
};

// Runs every collective of the communicator on values whose results are known in
// closed form from the rank and world size, and compares. Every rank must call it.
std::vector<CheckResult> verify_collectives(runtime::Communicator& comm);

struct BandwidthRow {
  int64_t bytes = 0;
  int iterations = 0;
  double seconds_per_op = 0.0;  // slowest rank's average
  double algorithm_gbps = 0.0;  // bytes / time
  double bus_gbps = 0.0;        // algorithm_gbps * 2(P-1)/P, as nccl-tests
  bool correct = false;
};

// float32 sum-allreduce timings for sizes min_bytes, 2*min_bytes, ..., max_bytes.
std::vector<BandwidthRow> measure_allreduce(runtime::Communicator& comm, int64_t min_bytes, int64_t max_bytes,
                                            int warmup);

}  // namespace missrec::cli
