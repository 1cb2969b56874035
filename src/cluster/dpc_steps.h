#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "cluster/distance_tiles.h"
#include "cluster/dpc_knn.h"

namespace missrec::runtime {
class Communicator;
}

// The steps the exact and the sampled DPC-KNN share: the run's plan (tiles, shards), the
// centers, the assignment and the centroids. Internal to the cluster layer.
namespace missrec::cluster::dpc {

using Shard = TokenRange;

// Distance rows are computed in tiles of tile_rows(N) rows at fixed global positions, one
// GEMM call per tile, and rank shards are whole tiles: every row sees exactly the same GEMM
// call whatever the rank count or memory budget, so results are bit-identical across both
// (BLAS rounding depends on a call's shape).
Shard shard_of(int64_t n, int64_t tile, int rank, int size);

// What the steps of one run share. Rank shards are whole tiles.
struct Run {
  // The token rows this rank holds, float32, contiguous, and their squared norms: all N
  // (plan_run: first_row 0, all_rows) or only its own shard (plan_shard_run: first_row
  // own.begin; all_rows only on one rank).
  Points tokens;
  int64_t first_row = 0;
  bool all_rows = true;        // tokens are all N rows on every rank
  double dim = 0.0;            // D
  int64_t n = 0;               // N
  int64_t k = 0;               // knn_k
  int64_t kept = 0;            // min(kept_neighbours, k, N)
  TilePlan plan;               // tile_rows(N) per GEMM call; pass 1's rows per pass
  Shard own;                   // this rank's rows
  bool cpu_selection = false;  // pass 1 summarises with the CPU kernel, else with tensor ops

  int64_t owned() const { return own.end - own.begin; }
  // The owned rows as positions of `tokens`.
  RowSet own_rows() const { return RowSet{tokens, at::Tensor(), own.begin - first_row, own.end - first_row}; }
  at::Tensor own_values() const { return tokens.values.slice(0, own.begin - first_row, own.end - first_row); }
  at::TensorOptions float_options() const { return tokens.values.options(); }
  at::TensorOptions long_options() const { return tokens.values.options().dtype(at::kLong); }
};

// The run's inputs as float32, its tiles, shard and pass 1's plan for distance rows of
// `columns` entries (N for the exact method, the sample for the sampled one);
// InputError on bad options or a budget below one tile.
Run plan_run(const at::Tensor& tokens, const DpcOptions& options, const runtime::Communicator& comm, int64_t columns);

// The same plan over this rank's rows only: own_rows [owned, D] are tokens
// [own.begin, own.end) of n (own: shard_of(n, tile_rows(max(columns, K)), rank, size)).
Run plan_shard_run(const at::Tensor& own_rows, int64_t n, const DpcOptions& options, const runtime::Communicator& comm,
                   int64_t columns);

// This rank's shard of a run over n tokens with distance rows of `columns` entries.
Shard run_shard(int64_t n, const DpcOptions& options, int rank, int size, int64_t columns);

// Every rank's rows of `mine`, in rank order (an allgather of variable row counts).
at::Tensor gather_rows(runtime::Communicator& comm, const at::Tensor& mine);

// inverse[order[i]] = i for a permutation `order` (int64 [L]): each element's place in it.
at::Tensor inverse_permutation(const at::Tensor& order);

// The points of tokens `ids` (distinct, any order), in that order, on every rank: taken
// from the tokens when the run holds all N; else each rank gives those among its own rows
// (collective: one allgather).
Points gather_points(const Run& run, const at::Tensor& ids, runtime::Communicator& comm);

// Centers: the K highest scores, ties to the lower index (a stable descending sort).
at::Tensor pick_centers(const at::Tensor& score, int64_t clusters);

// cluster_index [N]: every token's nearest center, and each center its own cluster.
// Collective (the owned rows' allgather).
at::Tensor assign_clusters(const Run& run, const at::Tensor& centers, runtime::Communicator& comm);

// Centroids [K, D] float32: sums and counts of the owned rows, summed over ranks in
// float64 (collectives: the sums' allreduce, then the counts').
at::Tensor centroids(const Run& run, const at::Tensor& cluster_index, int64_t clusters, runtime::Communicator& comm);

}  // namespace missrec::cluster::dpc
