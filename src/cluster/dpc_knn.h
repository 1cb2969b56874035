#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::cluster {

struct DpcOptions {
  int64_t clusters = 0;  // K
  int64_t knn_k = 0;     // k, 1 <= k <= N
  // Per-rank working memory beside the tokens: it sets how many distance tiles one pass
  // of the tensor-op path holds (the CPU kernel's pass is one tile); an InputError when
  // not even one tile fits.
  int64_t memory_mb = runtime::ClusterConfig{}.memory_mb;
  int64_t kept_neighbours = 64;  // nearest neighbours kept per row to resolve delta
  int64_t tile_rows = 0;         // rows per GEMM call; 0: from N (~32 MB of distances)
  // Per-row selection: the CPU kernel for CPU tensors, tensor ops (topk) otherwise;
  // tests force the tensor-op path on the CPU to cover what GPUs run.
  bool force_tensor_selection = false;
  // The sampled method's sample size m (dpc_knn_sampled); unused by the exact method.
  int64_t sample_size = runtime::ClusterConfig{}.sample_size;
};

// Rows [begin, end) of the N tokens.
struct TokenRange {
  int64_t begin = 0;
  int64_t end = 0;
};

// Exact DPC-KNN on tokens [N, D], identical on every rank afterwards.
struct DpcResult {
  at::Tensor density;        // [N] float32
  at::Tensor delta;          // [N] float32
  at::Tensor score;          // [N] float32
  at::Tensor center_index;   // [K] int64, token index of each center in cluster-id order
  at::Tensor cluster_index;  // [N] int64, 0-based cluster id of each token
  at::Tensor centroids;      // [K, D] float32
};

struct DpcStats {
  int64_t tile_rows = 0;         // rows per GEMM call
  int64_t pass_rows = 0;         // rows summarised per pass (whole tiles within the budget)
  int64_t unresolved_rows = 0;   // rows whose delta needed a full scan (all ranks)
  int64_t candidate_pairs = 0;   // sampled method: distances computed for the exact deltas (all ranks)
  int64_t cell_pairs = 0;        // sampled method: distances this rank computed for its cells' delta
  int64_t peak_rows = 0;         // sampled method: the most token rows this rank held at once (its own
                                 // and those it received; the sample's and centers' rows not counted)
  double distance_gemm_s = 0.0;  // pass 1 on this rank: the distance GEMM calls
  double selection_s = 0.0;      // pass 1 on this rank: finishing the distances and the per-row selection
  double seconds = 0.0;
};

// Distributed over the communicator: every rank passes the same tokens and owns a
// contiguous share of whole row tiles. Distances are computed one GEMM call per tile of
// full rows (the tile height depends on N only, so results are bit-identical at any rank
// count and budget) and summarised a pass of tiles at a time, never as an N x N or N x K
// matrix; memory_mb bounds the pass and the per-rank state.
DpcResult dpc_knn(const at::Tensor& tokens, const DpcOptions& options, runtime::Communicator& comm,
                  DpcStats* stats = nullptr);

// DPC-KNN from a sample, O(N m D) instead of O(N^2 D): m = options.sample_size tokens
// drawn by a keyed permutation of [0, N) with a fixed key (the same sample at any rank
// count and in every epoch of one N).
//  * density: the mean of the k' = round(k m / N) smallest squared distances to the
//    sample (the point itself left out) estimates the mean over its k nearest of N;
//  * delta: the nearest strictly denser point among the sample and among the point's
//    candidates: the tokens whose nearest sample point is the point's own nearest sample
//    point or one of that one's 3 nearest sample neighbours (the maximum distance to the
//    sample when none is denser); a cell of more than 8 N/m tokens (a hub) is compared
//    with its uncrowded neighbours and split the same way, up to 3 levels; then made
//    exact for the 2K highest scores (the center candidates), against the tokens denser
//    than each;
//  * centers, assignment and centroids as in the exact method.
// Identical on every rank and at any rank count. N <= m runs the exact method.
// docs/scaling.md has its cost and its agreement with the exact method.
DpcResult dpc_knn_sampled(const at::Tensor& tokens, const DpcOptions& options, runtime::Communicator& comm,
                          DpcStats* stats = nullptr);

// The rows of the N tokens that rank `rank` of `size` passes to dpc_knn_sampled_shard:
// whole distance tiles, contiguous, ascending in rank order.
TokenRange sampled_shard(int64_t n, const DpcOptions& options, int rank, int size);

// dpc_knn_sampled where each rank holds only its shard's rows (own_rows [end - begin, D]
// of sampled_shard): no rank holds all N rows. The cells' and the candidates' distances
// need other ranks' rows, which are sent to the rank that computes them (alltoallv; the
// cells in rounds of about N/P rows); the sample's, the candidates' and the centers' rows
// are gathered. N <= m gathers the N rows and runs the exact method. Same results as
// dpc_knn_sampled, bit for bit.
DpcResult dpc_knn_sampled_shard(const at::Tensor& own_rows, int64_t n, const DpcOptions& options,
                                runtime::Communicator& comm, DpcStats* stats = nullptr);

// The same semantics with the full N x N matrix, as the public implementation computes
// it (cdist -> topk -> masked min): a reference for tests and the benchmark baseline.
DpcResult dpc_knn_full_matrix(const at::Tensor& tokens, int64_t clusters, int64_t knn_k);

}  // namespace missrec::cluster
