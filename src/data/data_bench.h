#pragma once

#include <cstdint>
#include <string>

namespace missrec::data {

// `missrec bench data`: how fast the loader streams and assembles batches, and how its
// hyperslab reads compare with a plain sequential read of the same data.
struct DataBenchOptions {
  std::string dataset_dir;
  int64_t batch_size = 4096;  // per rank
  int64_t max_seq_len = 50;
  int64_t max_batches = 0;    // 0: a whole epoch
  int64_t chunk_size = 256;
};

// One JSON line of measurements.
std::string run_data_bench(const DataBenchOptions& options);

}  // namespace missrec::data
