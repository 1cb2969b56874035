// The sampled DPC-KNN (dpc_knn.h). Every distance block has a shape fixed by N, m and the
// data alone (row tiles at fixed positions, cells split in fixed tiles and chunks), so
// every rank count computes the same bits.
#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cluster/distance_tiles.h"
#include "cluster/dpc_knn.h"
#include "cluster/dpc_steps.h"
#include "data/keyed_permutation.h"
#include "data/keyed_random.h"
#include "runtime/comm.h"
#include "runtime/stopwatch.h"

namespace missrec::cluster {

namespace {

using dpc::gather_rows;
using dpc::Run;
using runtime::Communicator;
using runtime::ReduceOp;

constexpr uint64_t kSampleKey = 0x5a3b1e5eedULL;
constexpr int64_t kNeighbourCells = 3;       // a cell's candidates: its own and 3 neighbours' tokens
constexpr int64_t kCellRowTile = 256;        // rows per distance block inside a cell
constexpr int64_t kCellColumns = 16384;      // candidate columns per distance block
constexpr int64_t kCandidatesPerCenter = 2;  // tokens whose delta is made exact, per center
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Sample {
  at::Tensor index;     // [m] int64, ascending token ids
  at::Tensor position;  // [N] int64: the token's position in the sample, or -1
  Points points;        // the sample's tokens and squared norms
};

Sample draw_sample(const Run& run, int64_t m) {
  const data::KeyedPermutation permutation(run.n, data::keyed_hash(kSampleKey, static_cast<uint64_t>(run.n)));
  std::vector<int64_t> ids(static_cast<size_t>(m));
  for (int64_t p = 0; p < m; ++p) ids[static_cast<size_t>(p)] = permutation(p);
  std::sort(ids.begin(), ids.end());
  Sample sample;
  sample.index = at::tensor(ids, at::kLong).to(run.tokens.values.device());
  sample.position = at::full({run.n}, -1, run.long_options());
  sample.position.index_put_({sample.index}, at::arange(m, run.long_options()));
  sample.points = {run.tokens.values.index_select(0, sample.index), run.tokens.norms.index_select(0, sample.index)};
  return sample;
}

// Pass 1's results for the owned rows.
struct SampleSummaries {
  at::Tensor knn_sums;    // [owned] float64: the k' smallest squared distances to the sample, summed
  at::Tensor neighbours;  // [owned, kNeighbourCells + 1] int64: the nearest sample positions, nearest first
  at::Tensor row_maxima;  // [max(owned, 1)] float32
};

// Pass 1's handler: squared distances of owned rows [r0, r1) to the sample, the row's own
// column (a sampled token) set to +inf.
class SampleDensity final : public DistanceHandler {
 public:
  SampleDensity(const Run& run, const Sample& sample, int64_t sample_k, SampleSummaries& out)
      : run_(run), sample_(sample), sample_k_(sample_k), out_(out) {}

  void add_block(int64_t r0, int64_t r1, at::Tensor& block) override {
    const int64_t local = r0 - run_.own.begin;
    out_.row_maxima.narrow(0, local, r1 - r0).copy_(std::get<0>(block.max(1)));
    const at::Tensor own = sample_.position.slice(0, r0, r1);
    const at::Tensor sampled_rows = own.ge(0).nonzero().squeeze(1);
    block.index_put_({sampled_rows, own.index_select(0, sampled_rows)}, kInf);
    const int64_t wanted = std::max<int64_t>(sample_k_, kNeighbourCells + 1);
    const auto [values, index] = block.topk(wanted, 1, /*largest=*/false, /*sorted=*/true);
    out_.knn_sums.narrow(0, local, r1 - r0).copy_(values.narrow(1, 0, sample_k_).to(at::kDouble).sum(1));
    out_.neighbours.narrow(0, local, r1 - r0).copy_(index.narrow(1, 0, kNeighbourCells + 1));
  }

 private:
  const Run& run_;
  const Sample& sample_;
  const int64_t sample_k_;
  SampleSummaries& out_;
};

// The nearest strictly denser column of each row: blocks are squared distances of rows
// [r0, r1) of `row_ids` (undefined: the rows are the tokens r0..r1 themselves) to columns
// whose densities are `column_density`; the minimum over denser columns goes to
// best[row] if smaller (+inf where none).
class NearestDenserColumn final : public DistanceHandler {
 public:
  NearestDenserColumn(const at::Tensor& row_ids, const at::Tensor& density, const at::Tensor& column_density,
                      at::Tensor& best)
      : row_ids_(row_ids), density_(density), column_density_(column_density), best_(best) {}

  void add_block(int64_t r0, int64_t r1, at::Tensor& block) override {
    const at::Tensor rows =
        row_ids_.defined() ? row_ids_.slice(0, r0, r1) : at::arange(r0, r1, best_.options().dtype(at::kLong));
    const at::Tensor rho = density_.index_select(0, rows).unsqueeze(1);
    block.masked_fill_(column_density_.unsqueeze(0).gt(rho).logical_not(), kInf);
    const at::Tensor nearest = std::get<0>(block.min(1));
    best_.index_put_({rows}, at::minimum(best_.index_select(0, rows), nearest));
  }

 private:
  const at::Tensor& row_ids_;
  const at::Tensor& density_;
  const at::Tensor& column_density_;
  at::Tensor& best_;
};

}  // namespace

namespace {

SampleSummaries summarise_against_sample(const Run& run, const Sample& sample, int64_t sample_k) {
  SampleSummaries out;
  out.knn_sums = at::empty({run.owned()}, run.float_options().dtype(at::kDouble));
  out.neighbours = at::empty({run.owned(), kNeighbourCells + 1}, run.long_options());
  out.row_maxima = at::zeros({std::max<int64_t>(run.owned(), 1)}, run.float_options());
  SampleDensity handler(run, sample, sample_k, out);
  const RowSet rows{run.tokens, at::Tensor(), run.own.begin, run.own.end};
  for_each_distance_tile(rows, sample.points, run.dim, TilePlan{run.plan.tile, run.plan.tile}, handler);
  return out;
}

// The tokens grouped by their cell (their nearest sample point; a sampled token is its own
// cell), each cell's tokens ascending: members[start[a], start[a + 1]) is cell a.
struct Cells {
  at::Tensor members;          // [N] int64, on the tokens' device
  std::vector<int64_t> start;  // [m + 1]
  at::Tensor neighbour_cells;  // [m, kNeighbourCells] int64 (CPU): each sample point's nearest others
};

// Collective (two allgathers): every token's nearest sample point, and the sampled
// tokens' nearest other sample points.
Cells group_cells(const Run& run, const Sample& sample, const SampleSummaries& summaries, Communicator& comm) {
  const at::Tensor nearest = gather_rows(comm, summaries.neighbours.select(1, 0).contiguous());  // [N]
  const at::Tensor own_sampled = sample.position.slice(0, run.own.begin, run.own.end).ge(0).nonzero().squeeze(1);
  // Ranks own ascending token ranges, so the sampled rows arrive in sample order.
  const at::Tensor sample_neighbours =
      gather_rows(comm, summaries.neighbours.index_select(0, own_sampled).narrow(1, 0, kNeighbourCells));
  const at::Tensor sampled = sample.position.ge(0);
  const at::Tensor cell = at::where(sampled, sample.position, nearest);
  Cells cells;
  cells.members = std::get<1>(at::sort(cell, /*stable=*/true, 0, /*descending=*/false));
  const int64_t m = sample.index.size(0);
  const at::Tensor counts = at::bincount(cell.to(at::kCPU), {}, m).to(at::kLong).contiguous();
  const int64_t* count = counts.data_ptr<int64_t>();
  cells.start.assign(static_cast<size_t>(m) + 1, 0);
  for (int64_t a = 0; a < m; ++a) cells.start[a + 1] = cells.start[a] + count[a];
  // A sampled token's own row lists the other sample points (its own column was +inf).
  cells.neighbour_cells = sample_neighbours.contiguous().to(at::kCPU);
  return cells;
}

// For the tokens of cell a: the nearest strictly denser token among the tokens of cell a
// and of its neighbour cells, as squared distances folded into best (min).
void scan_cell(const Run& run, const Cells& cells, int64_t a, const at::Tensor& density, at::Tensor& best) {
  const auto members_of = [&](int64_t cell) {
    return cells.members.slice(0, cells.start[cell], cells.start[cell + 1]);
  };
  const at::Tensor rows = members_of(a);
  if (rows.size(0) == 0) return;
  std::vector<at::Tensor> candidate_parts = {rows};
  const int64_t* neighbours = cells.neighbour_cells.data_ptr<int64_t>() + a * kNeighbourCells;
  for (int64_t j = 0; j < kNeighbourCells; ++j) candidate_parts.push_back(members_of(neighbours[j]));
  const at::Tensor candidates = at::cat(candidate_parts);
  const Points columns_all{run.tokens.values.index_select(0, candidates), run.tokens.norms.index_select(0, candidates)};
  const at::Tensor column_density = density.index_select(0, candidates);
  for (int64_t c0 = 0; c0 < candidates.size(0); c0 += kCellColumns) {
    const int64_t c1 = std::min(candidates.size(0), c0 + kCellColumns);
    const Points columns{columns_all.values.slice(0, c0, c1), columns_all.norms.slice(0, c0, c1)};
    const at::Tensor chunk_density = column_density.slice(0, c0, c1);
    NearestDenserColumn chunk_handler(rows, density, chunk_density, best);
    const RowSet row_set{run.tokens, rows, 0, rows.size(0)};
    for_each_distance_tile(row_set, columns, run.dim, TilePlan{kCellRowTile, kCellRowTile}, chunk_handler);
  }
}

// Squared delta [N] (+inf where nothing denser was found), identical on every rank.
// Collective: the sample part's and the cells' minima meet in one allreduce.
at::Tensor nearest_denser(const Run& run, const Sample& sample, const Cells& cells, const at::Tensor& density,
                          Communicator& comm) {
  at::Tensor best = at::full({run.n}, kInf, run.float_options());
  const at::Tensor sample_density = density.index_select(0, sample.index);
  const at::Tensor token_rows;  // the owned rows are tokens
  NearestDenserColumn handler(token_rows, density, sample_density, best);
  const RowSet owned{run.tokens, at::Tensor(), run.own.begin, run.own.end};
  for_each_distance_tile(owned, sample.points, run.dim, TilePlan{run.plan.tile, run.plan.tile}, handler);
  const int64_t m = sample.index.size(0);
  for (int64_t a = comm.rank(); a < m; a += comm.size()) scan_cell(run, cells, a, density, best);
  comm.allreduce(best, ReduceOp::kMin);
  return best;
}

// Exact delta for the `count` highest approximate scores (the center candidates): the
// nearest strictly denser token among all N, folded into best (min). A candidate's denser
// tokens are a prefix of the tokens sorted by density, so its rows are computed against
// that prefix only. Candidates go in tiles of kCellRowTile in density order, tile t on
// rank t mod P (shapes fixed by the data). Collective (one allreduce).
int64_t refine_candidates(const Run& run, const at::Tensor& density, const at::Tensor& score, int64_t count,
                          Communicator& comm, at::Tensor& best) {
  const at::Tensor by_density = std::get<1>(at::sort(density, /*stable=*/true, 0, /*descending=*/true));
  at::Tensor rank_of = at::empty({run.n}, run.long_options());
  rank_of.index_put_({by_density}, at::arange(run.n, run.long_options()));
  const at::Tensor top = dpc::pick_centers(score, count);
  const at::Tensor candidates = top.index_select(0, std::get<1>(at::sort(rank_of.index_select(0, top))));
  const at::Tensor candidate_ranks = rank_of.index_select(0, candidates).to(at::kCPU);
  at::Tensor refined = at::full({run.n}, kInf, run.float_options());
  const int64_t tiles = (count + kCellRowTile - 1) / kCellRowTile;
  int64_t pairs = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    pairs += (std::min(count, (t + 1) * kCellRowTile) - t * kCellRowTile) *
             candidate_ranks[std::min(count, (t + 1) * kCellRowTile) - 1].item<int64_t>();
  }
  for (int64_t t = comm.rank(); t < tiles; t += comm.size()) {
    const int64_t r0 = t * kCellRowTile, r1 = std::min(count, r0 + kCellRowTile);
    const at::Tensor rows = candidates.slice(0, r0, r1);
    // Every candidate of the tile is at most this far down the density order.
    const int64_t prefix = candidate_ranks[r1 - 1].item<int64_t>();
    for (int64_t c0 = 0; c0 < prefix; c0 += kCellColumns) {
      const at::Tensor columns = by_density.slice(0, c0, std::min(prefix, c0 + kCellColumns));
      const Points points{run.tokens.values.index_select(0, columns), run.tokens.norms.index_select(0, columns)};
      const at::Tensor column_density = density.index_select(0, columns);
      NearestDenserColumn handler(rows, density, column_density, refined);
      const RowSet row_set{run.tokens, rows, 0, rows.size(0)};
      for_each_distance_tile(row_set, points, run.dim, TilePlan{kCellRowTile, kCellRowTile}, handler);
    }
  }
  comm.allreduce(refined, ReduceOp::kMin);
  best = at::minimum(best, refined);
  return pairs;
}

}  // namespace

DpcResult dpc_knn_sampled(const at::Tensor& tokens, const DpcOptions& options, Communicator& comm, DpcStats* stats) {
  if (options.sample_size >= tokens.size(0)) return dpc_knn(tokens, options, comm, stats);
  const runtime::Stopwatch clock;
  const int64_t m = options.sample_size;
  const Run run = dpc::plan_run(tokens, options, comm, m);
  const Sample sample = draw_sample(run, m);
  const int64_t sample_k = std::clamp<int64_t>(std::llround(static_cast<double>(options.knn_k) * m / run.n), 1, m - 1);
  const SampleSummaries summaries = summarise_against_sample(run, sample, sample_k);
  DpcResult result;
  result.density = gather_rows(comm, (-(summaries.knn_sums / static_cast<double>(sample_k))).exp().to(at::kFloat));
  at::Tensor max_distance = summaries.row_maxima.max().reshape({1});
  comm.allreduce(max_distance, ReduceOp::kMax);
  max_distance = max_distance.sqrt();
  const Cells cells = group_cells(run, sample, summaries, comm);
  VLOG(1) << "dpc-knn sampled: densities and cells, " << clock.elapsed() << " s so far";
  at::Tensor best = nearest_denser(run, sample, cells, result.density, comm);
  const auto finish = [&] {
    result.delta = at::where(best.isfinite(), best.sqrt(), max_distance.expand({run.n}));
    result.score = result.delta * result.density;
  };
  finish();
  const int64_t pairs = refine_candidates(run, result.density, result.score,
                                          std::min(run.n, kCandidatesPerCenter * options.clusters), comm, best);
  finish();
  result.center_index = dpc::pick_centers(result.score, options.clusters);
  result.cluster_index = dpc::assign_clusters(run, result.center_index, comm);
  result.centroids = dpc::centroids(run, result.cluster_index, options.clusters, comm);
  if (stats != nullptr) {
    stats->tile_rows = run.plan.tile;
    stats->pass_rows = run.plan.tile;
    stats->candidate_pairs = pairs;
    stats->seconds = clock.elapsed();
  }
  return result;
}

}  // namespace missrec::cluster
