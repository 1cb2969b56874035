#include "cluster/dpc_knn.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "cluster/distance_tiles.h"
#include "cluster/dpc_steps.h"
#include "cluster/row_summary.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/stopwatch.h"

namespace missrec::cluster {

namespace {

using dpc::assign_clusters;
using dpc::centroids;
using dpc::gather_rows;
using dpc::pick_centers;
using dpc::plan_run;
using dpc::Run;
using dpc::Shard;
using runtime::Communicator;
using runtime::ReduceOp;

// summarise_rows' summary (row_summary.h) with tensor ops, for tensors on any device
// (GPUs), of squared distances `block` [R, N]: topk for the k smallest and the kept
// nearest, re-ordered so equal distances list the lower index first.
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

// Pass 1's results for the owned rows.
struct DensitySummaries {
  at::Tensor knn_sums;       // [owned] float64: sum of the k smallest squared distances (the point itself included)
  at::Tensor kept_distance;  // [owned, kept] float32: the kept nearest squared distances, ascending
  at::Tensor kept_index;     // [owned, kept] int64: their tokens (ties: the lower index first)
  at::Tensor row_maxima;     // [max(owned, 1)] float32: the row maxima (0 on a rank without rows)
};

// Pass 1's handler, one interface for both summarisers (chosen once, before the loop):
// blocks are full distance rows of tokens [r0, r1) within the owned shard, summarised
// into `out` at rows r0 - own.begin onwards.
class DensitySummary : public DistanceHandler {
 public:
  DensitySummary(const Run& run, DensitySummaries& out) : run_(run), out_(out) {}

 protected:
  const Run& run_;
  DensitySummaries& out_;
};

// The CPU kernel: it takes the GEMM outputs (DistanceForm::kProducts) and finishes the
// distances itself, while the tile is still in cache.
class KernelDensitySummary final : public DensitySummary {
 public:
  using DensitySummary::DensitySummary;
  DistanceForm form() const override { return DistanceForm::kProducts; }
  void add_block(int64_t r0, int64_t /*r1*/, at::Tensor& block) override {
    const int64_t local = r0 - run_.own.begin;
    const float* norms = run_.tokens.norms.data_ptr<float>();
    summarise_rows(
        block, norms + r0, norms, static_cast<float>(run_.dim), run_.k, run_.kept,
        RowSummaries{out_.knn_sums.data_ptr<double>() + local, out_.kept_distance.data_ptr<float>() + local * run_.kept,
                     out_.kept_index.data_ptr<int64_t>() + local * run_.kept,
                     out_.row_maxima.data_ptr<float>() + local});
  }
};

// Tensor ops, for tensors on any device: takes squared distances.
class TensorOpDensitySummary final : public DensitySummary {
 public:
  using DensitySummary::DensitySummary;
  void add_block(int64_t r0, int64_t r1, at::Tensor& block) override {
    const int64_t local = r0 - run_.own.begin;
    summarise_rows_on_device(block, run_.k, run_.kept, out_.knn_sums.narrow(0, local, r1 - r0),
                             out_.kept_distance.narrow(0, local, r1 - r0), out_.kept_index.narrow(0, local, r1 - r0),
                             out_.row_maxima.narrow(0, local, r1 - r0));
  }
};

// Pass 1 over the owned rows, run.plan.pass full distance rows at a time.
DensitySummaries summarise_owned_rows(const Run& run, TileTimes& times) {
  DensitySummaries out;
  out.knn_sums = at::empty({run.owned()}, run.float_options().dtype(at::kDouble));
  out.kept_distance = at::empty({run.owned(), run.kept}, run.float_options());
  out.kept_index = at::empty({run.owned(), run.kept}, run.long_options());
  out.row_maxima = at::zeros({std::max<int64_t>(run.owned(), 1)}, run.float_options());
  std::unique_ptr<DensitySummary> summary;
  if (run.cpu_selection) {
    summary = std::make_unique<KernelDensitySummary>(run, out);
  } else {
    summary = std::make_unique<TensorOpDensitySummary>(run, out);
  }
  const RowSet rows{run.tokens, at::Tensor(), run.own.begin, run.own.end};
  times = for_each_distance_tile(rows, run.tokens, run.dim, run.plan, *summary);
  return out;
}

struct Densities {
  at::Tensor density;       // [N] float32, exp(-mean over the k nearest of d^2), on every rank
  at::Tensor max_distance;  // [1] float32, the global maximum of d(a, b)
};

// Collectives: the densities' allgather, then the row maxima's allreduce.
Densities gather_densities(const Run& run, const DensitySummaries& summaries, Communicator& comm) {
  at::Tensor row_max = summaries.row_maxima.max().reshape({1});
  const at::Tensor own_density = (-(summaries.knn_sums / static_cast<double>(run.k))).exp().to(at::kFloat);
  Densities out;
  out.density = gather_rows(comm, own_density);
  comm.allreduce(row_max, ReduceOp::kMax);
  out.max_distance = row_max.sqrt();
  return out;
}

// delta of the owned rows [owned] from their kept lists: the nearest strictly denser
// point. The kept list is sorted by distance and holds every point closer than its last
// entry, so its first denser entry is exact. Rows without one get the maximum distance
// and are listed in `unresolved` (owned row numbers, ascending) for the full scan.
at::Tensor delta_from_kept(const Run& run, const DensitySummaries& summaries, const Densities& densities,
                           at::Tensor& unresolved) {
  const at::Tensor own_rho = densities.density.slice(0, run.own.begin, run.own.end);
  const at::Tensor denser = densities.density.index_select(0, summaries.kept_index.reshape({-1}))
                                .view({run.owned(), run.kept})
                                .gt(own_rho.unsqueeze(1));
  const at::Tensor resolved = denser.any(1);
  const at::Tensor first = denser.to(at::kByte).argmax(1);
  unresolved = resolved.logical_not().nonzero().squeeze(1);
  return at::where(resolved, summaries.kept_distance.gather(1, first.unsqueeze(1)).squeeze(1).sqrt(),
                   densities.max_distance.expand({run.owned()}));
}

// The delta scan's handler: blocks are the distance rows of list positions [g0, g1)
// against every token, `list` [L] int64 holding ascending token ids; the owned rows
// (positions [mine.begin, mine.end)) get the distance to their nearest strictly denser
// point, or the maximum distance when there is none, in own_delta.
class NearestDenser final : public DistanceHandler {
 public:
  NearestDenser(const at::Tensor& list, Shard mine, int64_t own_begin, const Densities& densities,
                at::Tensor& own_delta)
      : list_(list), mine_(mine), own_begin_(own_begin), densities_(densities), own_delta_(own_delta) {}

  void add_block(int64_t g0, int64_t g1, at::Tensor& block) override {
    const at::Tensor& density = densities_.density;
    const at::Tensor rho = density.index_select(0, list_.slice(0, g0, g1)).unsqueeze(1);
    block.masked_fill_(density.unsqueeze(0).gt(rho).logical_not(), std::numeric_limits<float>::infinity());
    const int64_t mine0 = std::max(g0, mine_.begin);
    const int64_t mine1 = std::min(g1, mine_.end);
    const at::Tensor best = std::get<0>(block.min(1)).slice(0, mine0 - g0, mine1 - g0);
    own_delta_.index_put_({list_.slice(0, mine0, mine1) - own_begin_},
                          at::where(best.isfinite(), best.sqrt(), densities_.max_distance.expand({mine1 - mine0})));
  }

 private:
  const at::Tensor& list_;
  const Shard mine_;
  const int64_t own_begin_;
  const Densities& densities_;
  at::Tensor& own_delta_;
};

// Rows without a denser kept neighbour are scanned against all columns, `tile` rows of
// the global list of such rows at a time: the groups, and so each GEMM call, are the
// same at any rank count or budget. A rank computes the groups that hold its rows (a
// group across a shard boundary on both ranks), and keeps its rows' results. Collective
// (the list's allgather); returns the list's length.
int64_t scan_unresolved(const Run& run, const at::Tensor& unresolved, const Densities& densities, Communicator& comm,
                        at::Tensor& own_delta) {
  const at::Tensor all_unresolved = gather_rows(comm, unresolved + run.own.begin);
  const at::Tensor all_unresolved_cpu = all_unresolved.to(at::kCPU);
  const int64_t* global_rows = all_unresolved_cpu.data_ptr<int64_t>();
  const int64_t total = all_unresolved_cpu.size(0);
  const Shard mine{std::lower_bound(global_rows, global_rows + total, run.own.begin) - global_rows,
                   std::lower_bound(global_rows, global_rows + total, run.own.end) - global_rows};
  if (mine.begin == mine.end) return total;
  const int64_t tile = run.plan.tile;
  // The groups at list positions tile * m that hold the owned rows.
  const RowSet rows{run.tokens, all_unresolved, mine.begin / tile * tile,
                    std::min(total, (mine.end + tile - 1) / tile * tile)};
  NearestDenser handler(all_unresolved, mine, run.own.begin, densities, own_delta);
  for_each_distance_tile(rows, run.tokens, run.dim, TilePlan{tile, tile}, handler);
  return total;
}

}  // namespace

DpcResult dpc_knn(const at::Tensor& tokens, const DpcOptions& options, Communicator& comm, DpcStats* stats) {
  const runtime::Stopwatch clock;
  const Run run = plan_run(tokens, options, comm, tokens.size(0));
  TileTimes pass1;
  const DensitySummaries summaries = summarise_owned_rows(run, pass1);
  VLOG(1) << "dpc-knn pass 1: distances " << pass1.distance_s << " s, selection " << pass1.handler_s << " s, "
          << clock.elapsed() << " s so far";
  const Densities densities = gather_densities(run, summaries, comm);
  at::Tensor unresolved;
  at::Tensor own_delta = delta_from_kept(run, summaries, densities, unresolved);
  const int64_t scanned = scan_unresolved(run, unresolved, densities, comm, own_delta);
  VLOG(1) << "dpc-knn delta: " << scanned << " rows scanned, " << clock.elapsed() << " s so far";

  DpcResult result;
  result.density = densities.density;
  result.delta = gather_rows(comm, own_delta);
  result.score = result.delta * result.density;
  result.center_index = pick_centers(result.score, options.clusters);
  result.cluster_index = assign_clusters(run, result.center_index, comm);
  VLOG(1) << "dpc-knn assignment done, " << clock.elapsed() << " s so far";
  result.centroids = centroids(run, result.cluster_index, options.clusters, comm);
  if (stats != nullptr) {
    stats->tile_rows = run.plan.tile;
    stats->pass_rows = run.plan.pass;
    stats->unresolved_rows = scanned;
    stats->distance_gemm_s = pass1.distance_s;
    stats->selection_s = pass1.handler_s;
    stats->seconds = clock.elapsed();
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
