#pragma once

#include <cstdint>
#include <string>

#include "runtime/config.h"

namespace missrec::tools {

// `missrec bench data`: how fast the loader streams and assembles one rank's batches,
// how long gathering the rank's share of an epoch takes against a plain sequential
// read of the same data, and the process's peak memory.
struct DataBenchOptions {
  std::string dataset_dir;
  int64_t global_batch = runtime::TrainConfig{}.batch_size;
  int world_size = 8;  // the rank measured is rank 0 of this many
  int64_t max_seq_len = runtime::ModelConfig{}.max_seq_len;
  int64_t max_batches = 0;  // 0: a whole epoch
};

// One JSON line of measurements.
std::string run_data_bench(const DataBenchOptions& options);

}  // namespace missrec::tools
