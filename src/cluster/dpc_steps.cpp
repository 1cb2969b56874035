#include "cluster/dpc_steps.h"

#include <glog/logging.h>

#include <algorithm>
#include <string>

#include "runtime/comm.h"
#include "runtime/error.h"

namespace missrec::cluster::dpc {

using runtime::Communicator;
using runtime::ReduceOp;

namespace {

// Tiles of ~32 MB of exact distance rows keep the GEMM efficient; the budget decides how
// many tiles one pass computes before their rows are summarised.
// `width`: the widest distance row the run computes (N for the exact method; the sample
// or the K centers for the sampled one).
int64_t tile_rows(int64_t width, const DpcOptions& options) {
  if (options.tile_rows > 0) return options.tile_rows;
  return std::clamp<int64_t>((int64_t{32} << 20) / (4 * width), 32, 1024);
}

int64_t megabytes(int64_t bytes) { return (bytes + (int64_t{1} << 20) - 1) >> 20; }

// Rows per pass: as many whole tiles as fit in memory_mb beside the state that lives
// through the run (the owned rows' kept neighbours and k-sums, the N-long vectors). A
// distance row of `columns` entries costs 4 columns bytes, plus topk's outputs on the
// tensor-op path.
int64_t pass_rows(int64_t n, int64_t columns, int64_t tile, int64_t shard_rows, int64_t k, int64_t kept,
                  bool tensor_selection, int64_t memory_mb) {
  const int64_t resident = shard_rows * (kept * 12 + 16) + n * 40;
  const int64_t row_bytes = 4 * columns + (tensor_selection ? 12 * (k + kept) : 0);
  const int64_t budget = memory_mb << 20;
  const int64_t tiles = (budget - resident) / (tile * row_bytes);
  if (tiles < 1) {
    runtime::throw_input_error("cluster.memory_mb", std::to_string(memory_mb) + " MB is below the " +
                                                        std::to_string(megabytes(resident + tile * row_bytes)) +
                                                        " MB that one " + std::to_string(tile) +
                                                        "-row distance tile and this rank's state need at N=" +
                                                        std::to_string(n) + " (raise it, or run more ranks)");
  }
  return std::min(tiles * tile, std::max<int64_t>(shard_rows, 1));
}

// Squared norms of the rows, computed in chunks (no N x D temporary).
at::Tensor squared_norms(const at::Tensor& tokens) {
  at::Tensor norms = at::empty({tokens.size(0)}, tokens.options());
  constexpr int64_t kChunk = 4096;
  for (int64_t r0 = 0; r0 < tokens.size(0); r0 += kChunk) {
    const int64_t r1 = std::min(tokens.size(0), r0 + kChunk);
    norms.slice(0, r0, r1).copy_(tokens.slice(0, r0, r1).pow(2).sum(1));
  }
  return norms;
}

}  // namespace

Shard shard_of(int64_t n, int64_t tile, int rank, int size) {
  const int64_t tiles = (n + tile - 1) / tile;
  return Shard{std::min(n, tiles * rank / size * tile), std::min(n, tiles * (rank + 1) / size * tile)};
}

at::Tensor gather_rows(Communicator& comm, const at::Tensor& mine) {
  return comm.allgather_variable(mine.contiguous());
}

namespace {

void check_options(int64_t n, const DpcOptions& options) {
  if (options.knn_k < 1 || options.knn_k > n) {
    runtime::throw_input_error("cluster.knn_k",
                               "k=" + std::to_string(options.knn_k) + " must be in [1, N=" + std::to_string(n) + "]");
  }
  if (options.clusters < 1 || options.clusters > n) {
    runtime::throw_input_error(
        "clusters", "K=" + std::to_string(options.clusters) + " must be in [1, N=" + std::to_string(n) + "]");
  }
}

}  // namespace

Shard run_shard(int64_t n, const DpcOptions& options, int rank, int size, int64_t columns) {
  return shard_of(n, tile_rows(std::max(columns, options.clusters), options), rank, size);
}

namespace {

// Everything of a run but its rows.
Run plan_without_rows(int64_t n, int64_t dim, bool cpu, const DpcOptions& options, const Communicator& comm,
                      int64_t columns) {
  Run run;
  run.n = n;
  run.dim = static_cast<double>(dim);
  check_options(run.n, options);
  run.k = options.knn_k;
  run.kept = std::min<int64_t>({options.kept_neighbours, run.k, run.n});
  run.plan.tile = tile_rows(std::max(columns, options.clusters), options);
  run.own = shard_of(run.n, run.plan.tile, comm.rank(), comm.size());
  run.cpu_selection = cpu && !options.force_tensor_selection;
  // Planned for the largest shard, so that every rank takes the same decision.
  int64_t largest_shard = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const Shard shard = shard_of(run.n, run.plan.tile, r, comm.size());
    largest_shard = std::max(largest_shard, shard.end - shard.begin);
  }
  // The tensor-op path holds as many distance tiles per pass as the budget allows (large
  // batches for the device). The CPU kernel summarises each tile as soon as it is
  // computed, while it is still in cache: a pass is one tile, whatever the budget admits
  // (faster and a fraction of the memory: docs/performance.md).
  const int64_t budget_pass =
      pass_rows(run.n, columns, run.plan.tile, largest_shard, run.k, run.kept, !run.cpu_selection, options.memory_mb);
  run.plan.pass = run.cpu_selection ? std::min(budget_pass, run.plan.tile) : budget_pass;
  return run;
}

}  // namespace

Run plan_run(const at::Tensor& tokens_in, const DpcOptions& options, const Communicator& comm, int64_t columns) {
  CHECK_EQ(tokens_in.dim(), 2);
  Run run = plan_without_rows(tokens_in.size(0), tokens_in.size(1), tokens_in.is_cpu(), options, comm, columns);
  run.tokens.values = tokens_in.to(at::kFloat).contiguous();
  run.tokens.norms = squared_norms(run.tokens.values);
  return run;
}

Run plan_shard_run(const at::Tensor& own_rows, int64_t n, const DpcOptions& options, const Communicator& comm,
                   int64_t columns) {
  CHECK_EQ(own_rows.dim(), 2);
  Run run = plan_without_rows(n, own_rows.size(1), own_rows.is_cpu(), options, comm, columns);
  CHECK_EQ(own_rows.size(0), run.owned()) << "rank " << comm.rank() << " passed rows that are not its shard";
  run.tokens.values = own_rows.to(at::kFloat).contiguous();
  run.tokens.norms = squared_norms(run.tokens.values);
  run.first_row = run.own.begin;
  run.all_rows = comm.size() == 1;  // the same on every rank: one rank's shard may be all N
  return run;
}

at::Tensor inverse_permutation(const at::Tensor& order) {
  at::Tensor inverse = at::empty_like(order);
  inverse.index_put_({order}, at::arange(order.size(0), order.options()));
  return inverse;
}

Points gather_points(const Run& run, const at::Tensor& ids, Communicator& comm) {
  if (run.all_rows) return Points{run.tokens.values.index_select(0, ids), run.tokens.norms.index_select(0, ids)};
  const auto [sorted, order] = at::sort(ids);
  const at::Tensor mine = sorted.masked_select(sorted.ge(run.own.begin).logical_and(sorted.lt(run.own.end)));
  const at::Tensor local = mine - run.first_row;
  const at::Tensor rows =
      at::cat({run.tokens.values.index_select(0, local), run.tokens.norms.index_select(0, local).unsqueeze(1)}, 1);
  // Ranks own ascending ranges: the gathered rows are in ascending id order.
  const at::Tensor all = gather_rows(comm, rows);
  CHECK_EQ(all.size(0), ids.size(0)) << "the ranks' shards do not hold the requested tokens once";
  const at::Tensor in_order = all.index_select(0, inverse_permutation(order));
  const int64_t dim = run.tokens.values.size(1);
  return Points{in_order.narrow(1, 0, dim).contiguous(), in_order.select(1, dim).contiguous()};
}

at::Tensor pick_centers(const at::Tensor& score, int64_t clusters) {
  const at::Tensor order = std::get<1>(at::sort(score, /*stable=*/true, 0, /*descending=*/true));
  return order.slice(0, 0, clusters).contiguous();
}

namespace {

// The assignment's handler: blocks are the distances of tokens [r0, r1) within the owned
// shard to the K centers; each row's nearest center (ties to the lower cluster id) goes
// to own_cluster at r0 - own_begin onwards.
class NearestCenter final : public DistanceHandler {
 public:
  NearestCenter(int64_t own_begin, at::Tensor& own_cluster) : own_begin_(own_begin), own_cluster_(own_cluster) {}

  void add_block(int64_t r0, int64_t r1, at::Tensor& block) override {
    own_cluster_.slice(0, r0 - own_begin_, r1 - own_begin_).copy_(block.argmin(1));
  }

 private:
  const int64_t own_begin_;
  at::Tensor& own_cluster_;
};

}  // namespace

at::Tensor assign_clusters(const Run& run, const at::Tensor& centers, Communicator& comm) {
  const Points center_points = gather_points(run, centers, comm);
  at::Tensor own_cluster = at::empty({run.owned()}, run.long_options());
  const RowSet rows = run.own_rows();
  NearestCenter handler(rows.begin, own_cluster);
  for_each_distance_tile(rows, center_points, run.dim, TilePlan{run.plan.tile, run.plan.tile}, handler);
  at::Tensor cluster_index = gather_rows(comm, own_cluster);
  cluster_index.index_put_({centers}, at::arange(centers.size(0), run.long_options()));
  return cluster_index;
}

at::Tensor centroids(const Run& run, const at::Tensor& cluster_index, int64_t clusters, Communicator& comm) {
  const at::TensorOptions double_options = run.float_options().dtype(at::kDouble);
  const at::Tensor own_assignment = cluster_index.slice(0, run.own.begin, run.own.end);
  at::Tensor sums = at::zeros({clusters, run.tokens.values.size(1)}, double_options);
  sums.index_add_(0, own_assignment, run.own_values().to(at::kDouble));
  at::Tensor counts = at::zeros({clusters}, double_options);
  counts.index_add_(0, own_assignment, at::ones({run.owned()}, double_options));
  comm.allreduce(sums, ReduceOp::kSum);
  comm.allreduce(counts, ReduceOp::kSum);
  return (sums / (counts + 1e-4).unsqueeze(1)).to(at::kFloat);
}

}  // namespace missrec::cluster::dpc
