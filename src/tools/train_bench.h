#pragma once

#include <cstdint>
#include <string>

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::tools {

struct TrainBenchOptions {
  int64_t batch = 256;           // global batch
  std::string lengths = "demo";  // demo: the demo preset's history lengths; full: all 50
  int64_t steps = 10;            // timed steps (after 2 warm-up steps)
  int64_t items = 20000;
  bool padded = false;  // time the padded computation instead
  runtime::Precision precision = runtime::TrainConfig{}.precision;
  uint64_t seed = runtime::RunConfig{}.seed;
};

// `missrec bench train`: the full model with the paper's defaults on synthetic in-memory
// batches (20,000 items with 512-wide text/image features, K = 2% of the tokens), the
// real step (both views, global negatives, fused allreduce, Adam) on every rank of
// `comm`. Reports samples/s, the step-time split, peak RSS, the GEMM work of the step
// the data needs (model FLOPs) per second, and the machine's single large-GEMM rate.
// One JSON line (rank 0).
std::string run_train_bench(const TrainBenchOptions& options, runtime::Communicator& comm);

}  // namespace missrec::tools
