#include "cluster/dpc_knn.h"

#include <glog/logging.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "cluster/row_summary.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/onednn_sgemm.h"

namespace missrec::cluster {

namespace {

using runtime::Communicator;
using runtime::ReduceOp;

struct Shard {
  int64_t begin = 0;
  int64_t end = 0;
};

// Distance rows are computed in tiles of tile_rows(N) rows at fixed global positions, one
// GEMM call per tile, and rank shards are whole tiles: every row sees exactly the same GEMM
// call whatever the rank count or memory budget, so results are bit-identical across both
// (BLAS rounding depends on a call's shape). Tiles of ~32 MB keep the GEMM efficient; the
// budget decides how many tiles one pass computes before their rows are summarised.
int64_t tile_rows(int64_t n, const DpcOptions& options) {
  if (options.tile_rows > 0) return options.tile_rows;
  return std::clamp<int64_t>((int64_t{32} << 20) / (4 * n), 32, 1024);
}

Shard shard_of(int64_t n, int64_t tile, int rank, int size) {
  const int64_t tiles = (n + tile - 1) / tile;
  return Shard{std::min(n, tiles * rank / size * tile), std::min(n, tiles * (rank + 1) / size * tile)};
}

int64_t megabytes(int64_t bytes) { return (bytes + (int64_t{1} << 20) - 1) >> 20; }

// Rows per pass: as many whole tiles as fit in memory_mb beside the state that lives
// through the run (the owned rows' kept neighbours and k-sums, the N-long vectors). A
// distance row costs 4N bytes, plus topk's outputs on the tensor-op path.
int64_t pass_rows(int64_t n, int64_t tile, int64_t shard_rows, int64_t k, int64_t kept, bool tensor_selection,
                  int64_t memory_mb) {
  const int64_t resident = shard_rows * (kept * 12 + 16) + n * 40;
  const int64_t row_bytes = 4 * n + (tensor_selection ? 12 * (k + kept) : 0);
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

// The same summary with tensor ops, for tensors on any device (GPUs): topk for the k
// smallest and the kept nearest, re-ordered so equal distances list the lower index first.
void summarise_rows_on_device(const at::Tensor& block, int64_t k, int64_t kept, at::Tensor sums, at::Tensor kept_values,
                              at::Tensor kept_index, at::Tensor row_max) {
  // Sorted, so the float64 sum adds in the same order whatever the kernel's choices.
  sums.copy_(std::get<0>(block.topk(k, 1, /*largest=*/false, /*sorted=*/true)).to(at::kDouble).sum(1));
  auto [values, index] = block.topk(kept, 1, /*largest=*/false, /*sorted=*/true);
  const at::Tensor by_index = std::get<1>(at::sort(index, /*stable=*/true, 1, false));
  const at::Tensor values_by_index = values.gather(1, by_index);
  const at::Tensor by_value = std::get<1>(at::sort(values_by_index, /*stable=*/true, 1, false));
  const at::Tensor order = by_index.gather(1, by_value);
  kept_values.copy_(values.gather(1, order));
  kept_index.copy_(index.gather(1, order));
  row_max.copy_(std::get<0>(block.max(1)));
}

// -2 a_i.b_j for a row block against a set of columns, into `out` [R, M]. Scaling by -2
// is exact (a power of two), so this equals -2 times the product. On the CPU, oneDNN's
// SGEMM with alpha -2 when the process has it (faster here, and no zeroing pass);
// otherwise the rows are scaled before LibTorch's product.
void minus_two_products(const at::Tensor& rows, const at::Tensor& columns, at::Tensor& out) {
  const bool one_dnn = rows.is_cpu() && rows.scalar_type() == at::kFloat && columns.scalar_type() == at::kFloat &&
                       out.scalar_type() == at::kFloat && rows.is_contiguous() && columns.is_contiguous() &&
                       out.is_contiguous() && runtime::has_onednn_sgemm();
  if (!one_dnn) {
    at::mm_out(out, rows * -2.0, columns.t());
    return;
  }
  CHECK_EQ(out.size(0), rows.size(0));
  CHECK_EQ(out.size(1), columns.size(0));
  runtime::onednn_sgemm(false, true, rows.size(0), columns.size(0), rows.size(1), -2.0f, rows.data_ptr<float>(),
                        rows.size(1), columns.data_ptr<float>(), columns.size(1), 0.0f, out.data_ptr<float>(),
                        out.size(1));
}

// Squared scaled distances d(i,j)^2 = |a_i - b_j|^2 / D of a row block against a set of
// columns (every token, or the centers), clamped at 0, into `out` [R, M].
void distance_rows(const at::Tensor& rows, const at::Tensor& row_norms, const at::Tensor& columns,
                   const at::Tensor& column_norms, double dim, at::Tensor& out) {
  minus_two_products(rows, columns, out);
  out.add_(row_norms.unsqueeze(1)).add_(column_norms.unsqueeze(0)).clamp_min_(0.0).div_(dim);
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

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

at::Tensor gather_rows(Communicator& comm, const at::Tensor& mine) {
  return comm.allgather_variable(mine.contiguous());
}

}  // namespace

DpcResult dpc_knn(const at::Tensor& tokens_in, const DpcOptions& options, Communicator& comm, DpcStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  CHECK_EQ(tokens_in.dim(), 2);
  const at::Tensor tokens = tokens_in.to(at::kFloat).contiguous();
  const int64_t n = tokens.size(0);
  const double dim = static_cast<double>(tokens.size(1));
  if (options.knn_k < 1 || options.knn_k > n) {
    runtime::throw_input_error("cluster.knn_k",
                               "k=" + std::to_string(options.knn_k) + " must be in [1, N=" + std::to_string(n) + "]");
  }
  if (options.clusters < 1 || options.clusters > n) {
    runtime::throw_input_error(
        "clusters", "K=" + std::to_string(options.clusters) + " must be in [1, N=" + std::to_string(n) + "]");
  }
  const int64_t k = options.knn_k;
  const int64_t kept = std::min<int64_t>({options.kept_neighbours, k, n});
  const int64_t tile = tile_rows(n, options);
  const Shard own = shard_of(n, tile, comm.rank(), comm.size());
  const int64_t owned = own.end - own.begin;
  const bool cpu_selection = tokens.is_cpu() && !options.force_tensor_selection;
  // Planned for the largest shard, so that every rank takes the same decision.
  int64_t largest_shard = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const Shard shard = shard_of(n, tile, r, comm.size());
    largest_shard = std::max(largest_shard, shard.end - shard.begin);
  }
  // The tensor-op path holds as many distance tiles per pass as the budget allows (large
  // batches for the device). The CPU kernel summarises each tile as soon as it is
  // computed, while it is still in cache: a pass is one tile, whatever the budget admits
  // (faster and a fraction of the memory: docs/performance.md).
  const int64_t budget_pass = pass_rows(n, tile, largest_shard, k, kept, !cpu_selection, options.memory_mb);
  const int64_t pass = cpu_selection ? std::min(budget_pass, tile) : budget_pass;
  const at::Tensor norms = squared_norms(tokens);
  auto float_options = tokens.options();
  auto long_options = tokens.options().dtype(at::kLong);

  // Pass 1 over owned rows, `pass` full distance rows at a time: sum of the k smallest
  // squared distances (the point itself included), the `kept` nearest neighbours in
  // order, and the row maximum.
  at::Tensor knn_sums = at::empty({owned}, float_options.dtype(at::kDouble));
  at::Tensor kept_distance = at::empty({owned, kept}, float_options);
  at::Tensor kept_index = at::empty({owned, kept}, long_options);
  at::Tensor row_maxima = at::zeros({std::max<int64_t>(owned, 1)}, float_options);
  double gemm_seconds = 0.0;
  double select_seconds = 0.0;
  at::Tensor buffer = at::empty({std::min(pass, std::max<int64_t>(owned, 1)), n}, float_options);
  for (int64_t r0 = own.begin; r0 < own.end; r0 += pass) {
    const int64_t r1 = std::min(own.end, r0 + pass);
    at::Tensor block = buffer.narrow(0, 0, r1 - r0);
    const auto gemm_start = std::chrono::steady_clock::now();
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
      const int64_t t1 = std::min(r1, t0 + tile);
      at::Tensor rows = block.narrow(0, t0 - r0, t1 - t0);
      if (cpu_selection) {
        minus_two_products(tokens.slice(0, t0, t1), tokens, rows);  // summarise_rows finishes the distances
      } else {
        distance_rows(tokens.slice(0, t0, t1), norms.slice(0, t0, t1), tokens, norms, dim, rows);
      }
    }
    const auto select_start = std::chrono::steady_clock::now();
    gemm_seconds += std::chrono::duration<double>(select_start - gemm_start).count();
    const int64_t local = r0 - own.begin;
    if (cpu_selection) {
      summarise_rows(block, norms.data_ptr<float>() + r0, norms.data_ptr<float>(), static_cast<float>(dim), k, kept,
                     RowSummaries{knn_sums.data_ptr<double>() + local, kept_distance.data_ptr<float>() + local * kept,
                                  kept_index.data_ptr<int64_t>() + local * kept, row_maxima.data_ptr<float>() + local});
    } else {
      summarise_rows_on_device(block, k, kept, knn_sums.narrow(0, local, r1 - r0),
                               kept_distance.narrow(0, local, r1 - r0), kept_index.narrow(0, local, r1 - r0),
                               row_maxima.narrow(0, local, r1 - r0));
    }
    select_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - select_start).count();
  }
  VLOG(1) << "dpc-knn pass 1: distances " << gemm_seconds << " s, selection " << select_seconds << " s, "
          << seconds_since(start) << " s so far";
  buffer = at::Tensor();
  at::Tensor row_max = row_maxima.max().reshape({1});

  // Densities exp(-mean over the k nearest of d^2), then everyone has all of them.
  const at::Tensor own_density = (-(knn_sums / static_cast<double>(k))).exp().to(at::kFloat);
  const at::Tensor density = gather_rows(comm, own_density);
  comm.allreduce(row_max, ReduceOp::kMax);
  const at::Tensor max_distance = row_max.sqrt();  // global max of d(a, b)

  // delta: the nearest strictly denser point. The kept list is sorted by distance and
  // holds every point closer than its last entry, so its first denser entry is exact;
  // rows without one are scanned against all columns.
  const at::Tensor own_rho = density.slice(0, own.begin, own.end);
  const at::Tensor denser =
      density.index_select(0, kept_index.reshape({-1})).view({owned, kept}).gt(own_rho.unsqueeze(1));
  const at::Tensor resolved = denser.any(1);
  const at::Tensor first = denser.to(at::kByte).argmax(1);
  at::Tensor own_delta =
      at::where(resolved, kept_distance.gather(1, first.unsqueeze(1)).squeeze(1).sqrt(), max_distance.expand({owned}));
  const at::Tensor unresolved = resolved.logical_not().nonzero().squeeze(1);
  // Rows without a denser kept neighbour are scanned against all columns, `tile` rows of
  // the global list of such rows at a time: the groups, and so each GEMM call, are the
  // same at any rank count or budget. A rank computes the groups that hold its rows (a
  // group across a shard boundary on both ranks), and keeps its rows' results.
  const at::Tensor all_unresolved = gather_rows(comm, unresolved + own.begin);
  {
    const at::Tensor all_unresolved_cpu = all_unresolved.to(at::kCPU);
    const int64_t* global_rows = all_unresolved_cpu.data_ptr<int64_t>();
    const int64_t total = all_unresolved_cpu.size(0);
    for (int64_t g0 = 0; g0 < total; g0 += tile) {
      const int64_t g1 = std::min(total, g0 + tile);
      const int64_t mine0 = std::lower_bound(global_rows + g0, global_rows + g1, own.begin) - global_rows;
      const int64_t mine1 = std::lower_bound(global_rows + g0, global_rows + g1, own.end) - global_rows;
      if (mine0 == mine1) continue;
      const at::Tensor global = all_unresolved.slice(0, g0, g1);
      at::Tensor block = at::empty({g1 - g0, n}, float_options);
      distance_rows(tokens.index_select(0, global), norms.index_select(0, global), tokens, norms, dim, block);
      const at::Tensor rho = density.index_select(0, global).unsqueeze(1);
      block.masked_fill_(density.unsqueeze(0).gt(rho).logical_not(), std::numeric_limits<float>::infinity());
      const at::Tensor best = std::get<0>(block.min(1)).slice(0, mine0 - g0, mine1 - g0);
      own_delta.index_put_({all_unresolved.slice(0, mine0, mine1) - own.begin},
                           at::where(best.isfinite(), best.sqrt(), max_distance.expand({mine1 - mine0})));
    }
  }
  VLOG(1) << "dpc-knn delta: " << all_unresolved.size(0) << " rows scanned, " << seconds_since(start) << " s so far";

  const at::Tensor delta = gather_rows(comm, own_delta);
  const at::Tensor score = delta * density;

  // Centers: the K highest scores, ties to the lower index (a stable descending sort).
  const at::Tensor order = std::get<1>(at::sort(score, /*stable=*/true, 0, /*descending=*/true));
  const at::Tensor centers = order.slice(0, 0, options.clusters).contiguous();
  const at::Tensor center_tokens = tokens.index_select(0, centers);
  const at::Tensor center_norms = norms.index_select(0, centers);

  // Every owned token joins its nearest center (ties to the lower cluster id).
  at::Tensor own_cluster = at::empty({owned}, long_options);
  for (int64_t r0 = own.begin; r0 < own.end; r0 += tile) {
    const int64_t r1 = std::min(own.end, r0 + tile);
    at::Tensor block = at::empty({r1 - r0, options.clusters}, float_options);
    distance_rows(tokens.slice(0, r0, r1), norms.slice(0, r0, r1), center_tokens, center_norms, dim, block);
    own_cluster.slice(0, r0 - own.begin, r1 - own.begin).copy_(block.argmin(1));
  }
  at::Tensor cluster_index = gather_rows(comm, own_cluster);
  cluster_index.index_put_({centers}, at::arange(options.clusters, long_options));

  VLOG(1) << "dpc-knn assignment done, " << seconds_since(start) << " s so far";
  // Centroids: sums and counts of the owned rows, summed over ranks in float64.
  const at::Tensor own_assignment = cluster_index.slice(0, own.begin, own.end);
  at::Tensor sums = at::zeros({options.clusters, tokens.size(1)}, float_options.dtype(at::kDouble));
  sums.index_add_(0, own_assignment, tokens.slice(0, own.begin, own.end).to(at::kDouble));
  at::Tensor counts = at::zeros({options.clusters}, float_options.dtype(at::kDouble));
  counts.index_add_(0, own_assignment, at::ones({owned}, float_options.dtype(at::kDouble)));
  comm.allreduce(sums, ReduceOp::kSum);
  comm.allreduce(counts, ReduceOp::kSum);

  DpcResult result;
  result.density = density;
  result.delta = delta;
  result.score = score;
  result.center_index = centers;
  result.cluster_index = cluster_index;
  result.centroids = (sums / (counts + 1e-4).unsqueeze(1)).to(at::kFloat);
  if (stats != nullptr) {
    stats->tile_rows = tile;
    stats->pass_rows = pass;
    stats->unresolved_rows = all_unresolved.size(0);
    stats->distance_gemm_s = gemm_seconds;
    stats->selection_s = select_seconds;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return result;
}

DpcResult dpc_knn_full_matrix(const at::Tensor& tokens_in, int64_t clusters, int64_t knn_k) {
  // float64 input stays float64: an exact-arithmetic reference for tie tests.
  const at::Tensor tokens = tokens_in.scalar_type() == at::kDouble ? tokens_in : tokens_in.to(at::kFloat);
  const at::Tensor distance = at::cdist(tokens, tokens) / std::sqrt(static_cast<double>(tokens.size(1)));
  const at::Tensor nearest = std::get<0>(distance.topk(knn_k, 1, /*largest=*/false));
  DpcResult result;
  result.density = (-nearest.pow(2).mean(1)).exp();
  const at::Tensor mask = result.density.unsqueeze(0).gt(result.density.unsqueeze(1));
  const at::Tensor max_distance = distance.max();
  result.delta = std::get<0>(at::where(mask, distance, max_distance).min(1));
  result.score = result.delta * result.density;
  result.center_index =
      std::get<1>(at::sort(result.score, /*stable=*/true, 0, /*descending=*/true)).slice(0, 0, clusters);
  result.cluster_index = distance.index_select(0, result.center_index).argmin(0);
  result.cluster_index.index_put_({result.center_index}, at::arange(clusters, at::kLong));
  at::Tensor sums = at::zeros({clusters, tokens.size(1)}, at::kDouble);
  sums.index_add_(0, result.cluster_index, tokens.to(at::kDouble));
  const at::Tensor counts = at::bincount(result.cluster_index, {}, clusters).to(at::kDouble);
  result.centroids = (sums / (counts + 1e-4).unsqueeze(1)).to(at::kFloat);
  result.density = result.density.to(at::kFloat);
  result.delta = result.delta.to(at::kFloat);
  result.score = result.score.to(at::kFloat);
  return result;
}

}  // namespace missrec::cluster
