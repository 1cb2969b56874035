// The sampled DPC-KNN (dpc_knn.h). Every distance block has a shape fixed by N, m and the
// data alone (row tiles at fixed positions, cells split in fixed tiles and chunks), so
// every rank count computes the same bits.
#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
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
constexpr int64_t kCrowdedCell = 8;          // a cell of more than 8 x N/m tokens is split
constexpr int kMaxSplits = 3;                // levels of splitting a crowded cell
constexpr int64_t kCandidatesPerCenter = 2;  // tokens whose delta is made exact, per center
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Sample {
  at::Tensor index;     // [m] int64, ascending token ids
  at::Tensor position;  // [N] int64: the token's position in the sample, or -1
  Points points;        // the sample's tokens and squared norms
};

// m of `count` positions, the first m of a keyed permutation of [0, count), ascending
// (`index`, int64 [m]), and each position's place among them or -1 (`position`, [count]).
struct KeyedPick {
  at::Tensor index;
  at::Tensor position;
};

KeyedPick keyed_pick(int64_t count, int64_t m, uint64_t key, const at::TensorOptions& long_options) {
  const data::KeyedPermutation permutation(count, key);
  std::vector<int64_t> picked(static_cast<size_t>(m));
  for (int64_t p = 0; p < m; ++p) picked[static_cast<size_t>(p)] = permutation(p);
  std::sort(picked.begin(), picked.end());
  KeyedPick pick;
  pick.index = at::tensor(picked, at::kLong).to(long_options.device());
  pick.position = at::full({count}, -1, long_options);
  pick.position.index_put_({pick.index}, at::arange(m, long_options));
  return pick;
}

Sample draw_sample(const Run& run, int64_t m) {
  KeyedPick pick = keyed_pick(run.n, m, data::keyed_hash(kSampleKey, static_cast<uint64_t>(run.n)), run.long_options());
  Sample sample;
  sample.index = std::move(pick.index);
  sample.position = std::move(pick.position);
  sample.points = {run.tokens.values.index_select(0, sample.index), run.tokens.norms.index_select(0, sample.index)};
  return sample;
}

// Distances of a block's rows to their own columns set to +inf: own[i] is row i's column
// (the row is a sample point), or -1.
void hide_own_columns(at::Tensor& block, const at::Tensor& own) {
  const at::Tensor sampled_rows = own.ge(0).nonzero().squeeze(1);
  block.index_put_({sampled_rows, own.index_select(0, sampled_rows)}, kInf);
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
    hide_own_columns(block, sample_.position.slice(0, r0, r1));
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

// Tokens grouped in cells: members[start[c], start[c + 1]) are cell c's token ids, each
// cell's ascending in the order they were given.
struct Cells {
  at::Tensor members;          // [L] int64, on the tokens' device
  std::vector<int64_t> start;  // [cells + 1]
  at::Tensor neighbour_cells;  // [cells, kNeighbourCells] int64 (CPU): each cell's nearest other cells

  int64_t count() const { return static_cast<int64_t>(start.size()) - 1; }
  at::Tensor of(int64_t cell) const { return members.slice(0, start[cell], start[cell + 1]); }
  int64_t size(int64_t cell) const { return start[cell + 1] - start[cell]; }
};

// Cells from each token's cell id: `ids` [L] the tokens (undefined: tokens 0..L-1),
// cell_of [L] in [0, count).
Cells cells_from(const at::Tensor& ids, const at::Tensor& cell_of, int64_t count, const at::Tensor& neighbours) {
  const at::Tensor order = std::get<1>(at::sort(cell_of, /*stable=*/true, 0, /*descending=*/false));
  Cells cells;
  cells.members = ids.defined() ? ids.index_select(0, order) : order;
  const at::Tensor counts = at::bincount(cell_of.to(at::kCPU), {}, count).to(at::kLong).contiguous();
  const int64_t* size = counts.data_ptr<int64_t>();
  cells.start.assign(static_cast<size_t>(count) + 1, 0);
  for (int64_t c = 0; c < count; ++c) cells.start[c + 1] = cells.start[c] + size[c];
  cells.neighbour_cells = neighbours.contiguous().to(at::kCPU);
  return cells;
}

// Every token's cell (its nearest sample point; a sampled token is its own cell).
// Collective (two allgathers): every token's nearest sample point, and the sampled
// tokens' nearest other sample points.
Cells group_cells(const Run& run, const Sample& sample, const SampleSummaries& summaries, Communicator& comm) {
  const at::Tensor nearest = gather_rows(comm, summaries.neighbours.select(1, 0).contiguous());  // [N]
  const at::Tensor own_sampled = sample.position.slice(0, run.own.begin, run.own.end).ge(0).nonzero().squeeze(1);
  // Ranks own ascending token ranges, so the sampled rows arrive in sample order.
  // A sampled token's own row lists the other sample points (its own column was +inf).
  const at::Tensor sample_neighbours =
      gather_rows(comm, summaries.neighbours.index_select(0, own_sampled).narrow(1, 0, kNeighbourCells));
  const at::Tensor cell = at::where(sample.position.ge(0), sample.position, nearest);
  return cells_from(at::Tensor(), cell, sample.index.size(0), sample_neighbours);
}

// The nearest columns of each row, nearest first, a row's own column (position[row] >= 0)
// left out: rows are positions [p0, p1) of a RowSet.
class NearestColumns final : public DistanceHandler {
 public:
  NearestColumns(const at::Tensor& position, at::Tensor& nearest) : position_(position), nearest_(nearest) {}

  void add_block(int64_t p0, int64_t p1, at::Tensor& block) override {
    hide_own_columns(block, position_.slice(0, p0, p1));
    nearest_.slice(0, p0, p1).copy_(std::get<1>(block.topk(nearest_.size(1), 1, /*largest=*/false, /*sorted=*/true)));
  }

 private:
  const at::Tensor& position_;
  at::Tensor& nearest_;
};

// A crowded cell's tokens split in cells of their own, the same way the tokens were: a
// sample of about one per `mean_cell` of them (a keyed permutation of their positions,
// keyed by their count and first id: fixed by the data), each token's nearest sample
// point, each sample point's nearest others. In high dimension a few sample points are
// the nearest of very many tokens (hubs); splitting keeps a cell's work near-linear.
Cells split_cell(const Run& run, const at::Tensor& members, int64_t mean_cell) {
  const int64_t s = members.size(0);
  const int64_t m = std::clamp<int64_t>((s + mean_cell - 1) / mean_cell, kNeighbourCells + 2, s);
  const KeyedPick pick = keyed_pick(
      s, m, data::keyed_hash(kSampleKey, static_cast<uint64_t>(s), static_cast<uint64_t>(members[0].item<int64_t>())),
      members.options());
  const at::Tensor& position = pick.position;
  const at::Tensor ids = members.index_select(0, pick.index);
  const Points points{run.tokens.values.index_select(0, ids), run.tokens.norms.index_select(0, ids)};
  at::Tensor nearest = at::empty({s, kNeighbourCells + 1}, members.options());
  NearestColumns handler(position, nearest);
  for_each_distance_tile(RowSet{run.tokens, members, 0, s}, points, run.dim, TilePlan{kCellRowTile, kCellRowTile},
                         handler);
  const at::Tensor cell_of = at::where(position.ge(0), position, nearest.select(1, 0));
  return cells_from(members, cell_of, m, nearest.index_select(0, pick.index).narrow(1, 0, kNeighbourCells));
}

// The nearest strictly denser of `columns` for each of `rows` (token ids), as squared
// distances folded into best (min). Returns the distances computed.
int64_t scan_rows(const Run& run, const at::Tensor& rows, const at::Tensor& columns, const at::Tensor& density,
                  at::Tensor& best) {
  const Points columns_all{run.tokens.values.index_select(0, columns), run.tokens.norms.index_select(0, columns)};
  const at::Tensor column_density = density.index_select(0, columns);
  for (int64_t c0 = 0; c0 < columns.size(0); c0 += kCellColumns) {
    const int64_t c1 = std::min(columns.size(0), c0 + kCellColumns);
    const Points chunk{columns_all.values.slice(0, c0, c1), columns_all.norms.slice(0, c0, c1)};
    const at::Tensor chunk_density = column_density.slice(0, c0, c1);
    NearestDenserColumn handler(rows, density, chunk_density, best);
    const RowSet row_set{run.tokens, rows, 0, rows.size(0)};
    for_each_distance_tile(row_set, chunk, run.dim, TilePlan{kCellRowTile, kCellRowTile}, handler);
  }
  return rows.size(0) * columns.size(0);
}

// Cell sizes: `mean` tokens per cell on average, a cell of more than `crowded` is split.
struct CellLimits {
  int64_t mean = 1;
  int64_t crowded = 1;
};

// For the tokens of cell a: the nearest strictly denser token among the tokens of cell a
// and of its neighbour cells that are not crowded, folded into best (min). A crowded
// cell's tokens are compared with those neighbours' tokens, and among themselves by
// splitting the cell and scanning its parts the same way; past kMaxSplits levels they are
// compared with the cell's first `crowded` tokens only. Any subset of the denser tokens
// gives an upper bound of delta. Returns the distances computed.
int64_t scan_cell(const Run& run, const Cells& cells, int64_t a, const at::Tensor& density, const CellLimits& limits,
                  int depth, at::Tensor& best) {
  const at::Tensor rows = cells.of(a);
  if (rows.size(0) == 0) return 0;
  const bool crowded = rows.size(0) > limits.crowded;
  std::vector<at::Tensor> columns;
  if (!crowded) columns.push_back(rows);
  const int64_t* neighbours = cells.neighbour_cells.data_ptr<int64_t>() + a * kNeighbourCells;
  for (int64_t j = 0; j < kNeighbourCells; ++j) {
    if (cells.size(neighbours[j]) <= limits.crowded) columns.push_back(cells.of(neighbours[j]));
  }
  if (crowded) columns.push_back(depth == kMaxSplits ? rows.narrow(0, 0, limits.crowded) : rows.narrow(0, 0, 0));
  int64_t pairs = scan_rows(run, rows, at::cat(columns), density, best);
  if (!crowded || depth == kMaxSplits) return pairs;
  const Cells parts = split_cell(run, rows, limits.mean);
  pairs += rows.size(0) * parts.count();
  for (int64_t b = 0; b < parts.count(); ++b) pairs += scan_cell(run, parts, b, density, limits, depth + 1, best);
  return pairs;
}

// Squared delta [N] (+inf where nothing denser was found), an upper bound of the exact
// one, identical on every rank. Collective: the sample part's and the cells' minima meet
// in one allreduce. cell_pairs: the distances this rank computed for its cells.
at::Tensor nearest_denser(const Run& run, const Sample& sample, const Cells& cells, const at::Tensor& density,
                          Communicator& comm, int64_t& cell_pairs) {
  at::Tensor best = at::full({run.n}, kInf, run.float_options());
  const at::Tensor sample_density = density.index_select(0, sample.index);
  const at::Tensor token_rows;  // the owned rows are tokens
  NearestDenserColumn handler(token_rows, density, sample_density, best);
  const RowSet owned{run.tokens, at::Tensor(), run.own.begin, run.own.end};
  for_each_distance_tile(owned, sample.points, run.dim, TilePlan{run.plan.tile, run.plan.tile}, handler);
  CellLimits limits;
  limits.mean = std::max<int64_t>(1, (run.n + cells.count() - 1) / cells.count());
  limits.crowded = std::max(kCellRowTile, kCrowdedCell * limits.mean);
  for (int64_t a = comm.rank(); a < cells.count(); a += comm.size()) {
    cell_pairs += scan_cell(run, cells, a, density, limits, 0, best);
  }
  comm.allreduce(best, ReduceOp::kMin);
  return best;
}

// Scores from squared deltas: delta (the maximum distance where nothing is denser) times
// density, element by element.
at::Tensor scores_of(const at::Tensor& best, const at::Tensor& density, const at::Tensor& max_distance) {
  return at::where(best.isfinite(), best.sqrt(), max_distance.expand_as(best)) * density;
}

// The exact delta of `batch` (token ids): the nearest strictly denser token among all N,
// into refined (min). A token's denser tokens are a prefix of the density order, so rows
// go in tiles of kCellRowTile in density order, each against its last row's prefix; tile
// t on rank t mod P (shapes fixed by the data). Returns the distances computed (all ranks).
int64_t exact_delta(const Run& run, const at::Tensor& batch, const at::Tensor& by_density, const at::Tensor& rank_of,
                    const at::Tensor& density, Communicator& comm, at::Tensor& refined) {
  const at::Tensor rows_all = batch.index_select(0, std::get<1>(at::sort(rank_of.index_select(0, batch))));
  const at::Tensor row_ranks = rank_of.index_select(0, rows_all).to(at::kCPU).contiguous();
  const int64_t* row_rank = row_ranks.data_ptr<int64_t>();
  const int64_t count = rows_all.size(0);
  const int64_t tiles = (count + kCellRowTile - 1) / kCellRowTile;
  int64_t pairs = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r0 = t * kCellRowTile, r1 = std::min(count, r0 + kCellRowTile);
    const int64_t prefix = row_rank[r1 - 1];  // every row of the tile is at most this far down
    pairs += (r1 - r0) * prefix;
    if (t % comm.size() != comm.rank()) continue;
    const at::Tensor rows = rows_all.slice(0, r0, r1);
    for (int64_t c0 = 0; c0 < prefix; c0 += kCellColumns) {
      const at::Tensor columns = by_density.slice(0, c0, std::min(prefix, c0 + kCellColumns));
      const Points points{run.tokens.values.index_select(0, columns), run.tokens.norms.index_select(0, columns)};
      const at::Tensor column_density = density.index_select(0, columns);
      NearestDenserColumn handler(rows, density, column_density, refined);
      const RowSet row_set{run.tokens, rows, 0, rows.size(0)};
      for_each_distance_tile(row_set, points, run.dim, TilePlan{kCellRowTile, kCellRowTile}, handler);
    }
  }
  return pairs;
}

// The center candidates' exact delta: the `count` highest bound scores (density times
// the upper bound of delta in best) made exact in best. Returns the distances computed
// (all ranks). Collective (one allreduce of the candidates).
int64_t refine_candidates(const Run& run, const at::Tensor& density, const at::Tensor& max_distance, int64_t count,
                          Communicator& comm, at::Tensor& best) {
  const at::Tensor by_density = std::get<1>(at::sort(density, /*stable=*/true, 0, /*descending=*/true));
  at::Tensor rank_of = at::empty({run.n}, run.long_options());
  rank_of.index_put_({by_density}, at::arange(run.n, run.long_options()));
  const at::Tensor bound = scores_of(best, density, max_distance);
  const at::Tensor order = std::get<1>(at::sort(bound, /*stable=*/true, 0, /*descending=*/true));
  const at::Tensor candidates = order.slice(0, 0, count);
  at::Tensor refined = at::full({run.n}, kInf, run.float_options());
  const int64_t pairs = exact_delta(run, candidates, by_density, rank_of, density, comm, refined);
  at::Tensor exact = refined.index_select(0, candidates);
  comm.allreduce(exact, ReduceOp::kMin);
  best.index_put_({candidates}, at::minimum(best.index_select(0, candidates), exact));
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
  LOG(INFO) << "dpc-knn sampled: densities and cells, " << clock.elapsed() << " s so far";
  int64_t cell_pairs = 0;
  at::Tensor best = nearest_denser(run, sample, cells, result.density, comm, cell_pairs);
  LOG(INFO) << "dpc-knn sampled: delta from the sample and the cells, " << clock.elapsed() << " s so far";
  const int64_t pairs = refine_candidates(run, result.density, max_distance,
                                          std::min(run.n, kCandidatesPerCenter * options.clusters), comm, best);
  result.delta = at::where(best.isfinite(), best.sqrt(), max_distance.expand({run.n}));
  result.score = result.delta * result.density;
  LOG(INFO) << "dpc-knn sampled: the candidates' exact delta (" << pairs << " pairs), " << clock.elapsed()
            << " s so far";
  result.center_index = dpc::pick_centers(result.score, options.clusters);
  result.cluster_index = dpc::assign_clusters(run, result.center_index, comm);
  LOG(INFO) << "dpc-knn sampled: assignment, " << clock.elapsed() << " s so far";
  result.centroids = dpc::centroids(run, result.cluster_index, options.clusters, comm);
  if (stats != nullptr) {
    stats->tile_rows = run.plan.tile;
    stats->pass_rows = run.plan.tile;
    stats->candidate_pairs = pairs;
    stats->cell_pairs = cell_pairs;
    stats->seconds = clock.elapsed();
  }
  return result;
}

}  // namespace missrec::cluster
