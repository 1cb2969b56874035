#pragma once

#include <cstdint>
#include <string>

namespace missrec::runtime {
class Communicator;
}

namespace missrec::cluster {

struct ClusterBenchOptions {
  int64_t n = 16000;
  int64_t dim = 300;
  double knn_ratio = 0.1;
  double cluster_ratio = 0.02;
  int64_t memory_mb = 1024;
  bool with_full_matrix = true;  // also time the full-matrix baseline (one rank only)
  uint64_t seed = 2020;
};

// `missrec bench cluster`: times our DPC-KNN and (on one rank) the full-matrix LibTorch
// implementation on the same Gaussian-blob tokens; peak memory of each from the
// process's resident high-water mark, reset in between. One JSON line (rank 0).
std::string run_cluster_bench(const ClusterBenchOptions& options, runtime::Communicator& comm);

}  // namespace missrec::cluster
