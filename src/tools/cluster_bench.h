#pragma once

#include <cstdint>
#include <string>

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::tools {

struct ClusterBenchOptions {
  int64_t n = 16000;
  int64_t dim = 300;
  double knn_ratio = runtime::ClusterConfig{}.knn_local_ratio;
  double cluster_ratio = runtime::ClusterConfig{}.interest_ratio;
  int64_t memory_mb = runtime::ClusterConfig{}.memory_mb;
  bool with_full_matrix = true;  // also time the full-matrix baseline (one rank only)
  runtime::ClusterMethod method = runtime::ClusterConfig{}.method;
  int64_t sample_size = runtime::ClusterConfig{}.sample_size;
  bool with_exact = true;  // sampled: also run the exact method and compare the clusterings
  uint64_t seed = runtime::RunConfig{}.seed;
};

// `missrec bench cluster`: times our DPC-KNN and (on one rank) the full-matrix LibTorch
// implementation on the same Gaussian-blob tokens; peak memory of each from the
// process's resident high-water mark, reset in between. With the sampled method, also
// the exact one, and how far the clusterings agree (adjusted Rand index, shared
// centers). One JSON line (rank 0).
std::string run_cluster_bench(const ClusterBenchOptions& options, runtime::Communicator& comm);

}  // namespace missrec::tools
