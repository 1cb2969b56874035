// The sampled DPC-KNN (dpc_knn.h). Every distance block has a shape fixed by N, m and the
// data alone (row tiles at fixed positions, cells split in fixed tiles and chunks), so
// every rank count computes the same bits.
#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <functional>
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

// Collective (the sample's rows gathered).
Sample draw_sample(const Run& run, int64_t m, Communicator& comm) {
  KeyedPick pick = keyed_pick(run.n, m, data::keyed_hash(kSampleKey, static_cast<uint64_t>(run.n)), run.long_options());
  Sample sample;
  sample.index = std::move(pick.index);
  sample.position = std::move(pick.position);
  sample.points = dpc::gather_points(run, sample.index, comm);
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

// Pass 1's handler: squared distances of owned rows (positions [p0, p1) of run.tokens) to
// the sample, the row's own column (a sampled token) set to +inf.
class SampleDensity final : public DistanceHandler {
 public:
  SampleDensity(const Run& run, const Sample& sample, int64_t sample_k, SampleSummaries& out)
      : run_(run), sample_(sample), sample_k_(sample_k), out_(out) {}

  void add_block(int64_t p0, int64_t p1, at::Tensor& block) override {
    const int64_t r0 = p0 + run_.first_row, r1 = p1 + run_.first_row;
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
// [p0, p1) of `row_ids` (undefined: the rows are the tokens p0 + row_offset onwards) to
// columns whose densities are `column_density`; the minimum over denser columns goes to
// best[row] if smaller (+inf where none).
class NearestDenserColumn final : public DistanceHandler {
 public:
  NearestDenserColumn(const at::Tensor& row_ids, const at::Tensor& density, const at::Tensor& column_density,
                      at::Tensor& best, int64_t row_offset = 0)
      : row_ids_(row_ids), density_(density), column_density_(column_density), best_(best), row_offset_(row_offset) {}

  void add_block(int64_t p0, int64_t p1, at::Tensor& block) override {
    const at::Tensor rows = row_ids_.defined()
                                ? row_ids_.slice(0, p0, p1)
                                : at::arange(p0 + row_offset_, p1 + row_offset_, best_.options().dtype(at::kLong));
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
  const int64_t row_offset_;
};

}  // namespace

namespace {

SampleSummaries summarise_against_sample(const Run& run, const Sample& sample, int64_t sample_k) {
  SampleSummaries out;
  out.knn_sums = at::empty({run.owned()}, run.float_options().dtype(at::kDouble));
  out.neighbours = at::empty({run.owned(), kNeighbourCells + 1}, run.long_options());
  out.row_maxima = at::zeros({std::max<int64_t>(run.owned(), 1)}, run.float_options());
  SampleDensity handler(run, sample, sample_k, out);
  for_each_distance_tile(run.own_rows(), sample.points, run.dim, TilePlan{run.plan.tile, run.plan.tile}, handler);
  return out;
}

// Tokens grouped in cells: members[start[c], start[c + 1]) are cell c's token ids, each
// cell's ascending in the order they were given.
struct Cells {
  at::Tensor members;          // [L] int64, on the tokens' device
  std::vector<int64_t> start;  // [cells + 1]
  at::Tensor neighbour_cells;  // [cells, kNeighbourCells] int64 (CPU): each cell's nearest other cells
  at::Tensor cell_of;          // [L] int64: each token's cell, in the order the tokens were given

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
  cells.cell_of = cell_of;
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

// Token rows a rank received from their owners: ascending ids and their points.
struct HeldRows {
  at::Tensor ids;  // [H] int64, ascending
  Points points;

  // Positions of tokens `global` (every one held) among the rows.
  at::Tensor local(const at::Tensor& global) const { return at::searchsorted(ids, global); }
  Points select(const at::Tensor& global) const {
    const at::Tensor rows = local(global);
    return Points{points.values.index_select(0, rows), points.norms.index_select(0, rows)};
  }
};

// The token rows a rank holds beside `held`: its own (all N when the run has them all).
int64_t rows_held(const Run& run, const HeldRows& held) {
  return run.all_rows ? run.n : run.owned() + held.ids.size(0);
}

// Which tokens a rank receives: wanted(r, begin, end) is the bool mask over tokens
// [begin, end) of those that rank r receives.
using Wanted = std::function<at::Tensor(int rank, int64_t begin, int64_t end)>;

// Token rows sent where they are wanted: each rank sends the wanted among its own rows
// and receives its own wanted rows, ascending (ranks own ascending ranges). One copy of
// the rows sent, one of those received. Collective: two alltoallv (rows, norms). A run
// that holds all N rows on every rank has them already (no copy, no collective).
HeldRows exchange_rows(const Run& run, const Wanted& wanted, Communicator& comm) {
  if (run.all_rows) return HeldRows{at::arange(run.n, run.long_options()), run.tokens};
  std::vector<at::Tensor> positions;
  std::vector<int64_t> counts;
  for (int r = 0; r < comm.size(); ++r) {
    positions.push_back(wanted(r, run.own.begin, run.own.end).nonzero().squeeze(1) + (run.own.begin - run.first_row));
    counts.push_back(positions.back().size(0));
  }
  const at::Tensor send = at::cat(positions);
  HeldRows held;
  held.ids = wanted(comm.rank(), 0, run.n).nonzero().squeeze(1);
  held.points.values = comm.alltoallv(run.tokens.values.index_select(0, send), counts);
  held.points.norms = comm.alltoallv(run.tokens.norms.index_select(0, send), counts);
  CHECK_EQ(held.points.values.size(0), held.ids.size(0))
      << "rank " << comm.rank() << " received other rows than it wants";
  return held;
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
Cells split_cell(const HeldRows& held, double dim, const at::Tensor& members, int64_t mean_cell) {
  const int64_t s = members.size(0);
  const int64_t m = std::clamp<int64_t>((s + mean_cell - 1) / mean_cell, kNeighbourCells + 2, s);
  const KeyedPick pick = keyed_pick(
      s, m, data::keyed_hash(kSampleKey, static_cast<uint64_t>(s), static_cast<uint64_t>(members[0].item<int64_t>())),
      members.options());
  const at::Tensor& position = pick.position;
  const Points points = held.select(members.index_select(0, pick.index));
  at::Tensor nearest = at::empty({s, kNeighbourCells + 1}, members.options());
  NearestColumns handler(position, nearest);
  for_each_distance_tile(RowSet{held.points, held.local(members), 0, s}, points, dim,
                         TilePlan{kCellRowTile, kCellRowTile}, handler);
  const at::Tensor cell_of = at::where(position.ge(0), position, nearest.select(1, 0));
  return cells_from(members, cell_of, m, nearest.index_select(0, pick.index).narrow(1, 0, kNeighbourCells));
}

// The nearest strictly denser of `columns` for each of `rows` (token ids), as squared
// distances folded into best (min). Returns the distances computed.
int64_t scan_rows(const HeldRows& held, double dim, const at::Tensor& rows, const at::Tensor& columns,
                  const at::Tensor& density, at::Tensor& best) {
  const Points columns_all = held.select(columns);
  const at::Tensor column_density = density.index_select(0, columns);
  const RowSet row_set{held.points, held.local(rows), 0, rows.size(0)};
  for (int64_t c0 = 0; c0 < columns.size(0); c0 += kCellColumns) {
    const int64_t c1 = std::min(columns.size(0), c0 + kCellColumns);
    const Points chunk{columns_all.values.slice(0, c0, c1), columns_all.norms.slice(0, c0, c1)};
    const at::Tensor chunk_density = column_density.slice(0, c0, c1);
    NearestDenserColumn handler(rows, density, chunk_density, best);
    for_each_distance_tile(row_set, chunk, dim, TilePlan{kCellRowTile, kCellRowTile}, handler);
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
// gives an upper bound of delta. `held` has the rows of cell a and of those neighbours.
// Returns the distances computed.
int64_t scan_cell(const HeldRows& held, double dim, const Cells& cells, int64_t a, const at::Tensor& density,
                  const CellLimits& limits, int depth, at::Tensor& best) {
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
  int64_t pairs = scan_rows(held, dim, rows, at::cat(columns), density, best);
  if (!crowded || depth == kMaxSplits) return pairs;
  const Cells parts = split_cell(held, dim, rows, limits.mean);
  pairs += rows.size(0) * parts.count();
  for (int64_t b = 0; b < parts.count(); ++b) {
    pairs += scan_cell(held, dim, parts, b, density, limits, depth + 1, best);
  }
  return pairs;
}

// The rows cell a's scan needs: its own and its uncrowded neighbours'.
int64_t cell_reach(const Cells& cells, int64_t a, const CellLimits& limits) {
  int64_t rows = cells.size(a);
  const int64_t* neighbours = cells.neighbour_cells.data_ptr<int64_t>() + a * kNeighbourCells;
  for (int64_t j = 0; j < kNeighbourCells; ++j) {
    if (cells.size(neighbours[j]) <= limits.crowded) rows += cells.size(neighbours[j]);
  }
  return rows;
}

// rounds[r][g]: the cells rank r scans (cell a on rank a mod P) in round g; a round's
// cells need at most `limit` rows together (one cell alone may need more). The same on
// every rank.
using CellRounds = std::vector<std::vector<std::vector<int64_t>>>;

CellRounds cell_rounds(const Cells& cells, const CellLimits& limits, int size, int64_t limit) {
  CellRounds rounds(static_cast<size_t>(size));
  std::vector<int64_t> held(static_cast<size_t>(size), 0);
  for (int64_t a = 0; a < cells.count(); ++a) {
    const auto r = static_cast<size_t>(a % size);
    const int64_t reach = cell_reach(cells, a, limits);
    if (rounds[r].empty() || held[r] + reach > limit) {
      rounds[r].emplace_back();
      held[r] = 0;
    }
    rounds[r].back().push_back(a);
    held[r] += reach;
  }
  return rounds;
}

// need [cells, P] bool on `device`: need[c][r] when rank r's cells of round g read cell
// c's rows.
at::Tensor round_needs(const Cells& cells, const CellLimits& limits, const CellRounds& rounds, size_t g,
                       at::Device device) {
  at::Tensor need = at::zeros({cells.count(), static_cast<int64_t>(rounds.size())}, at::kBool);
  auto mark = need.accessor<bool, 2>();
  for (size_t r = 0; r < rounds.size(); ++r) {
    if (g >= rounds[r].size()) continue;
    for (const int64_t a : rounds[r][g]) {
      mark[a][static_cast<int64_t>(r)] = true;
      const int64_t* neighbours = cells.neighbour_cells.data_ptr<int64_t>() + a * kNeighbourCells;
      for (int64_t j = 0; j < kNeighbourCells; ++j) {
        if (cells.size(neighbours[j]) <= limits.crowded) mark[neighbours[j]][static_cast<int64_t>(r)] = true;
      }
    }
  }
  return need.to(device);
}

// What the sampled method counts on this rank.
struct SampledCounts {
  int64_t cell_pairs = 0;
  int64_t candidate_pairs = 0;
  int64_t peak_rows = 0;
};

// The cells' part of delta on this rank (its cells, a mod P == rank), folded into best:
// the rows the cells read are sent to it in rounds of about N/P rows.
void scan_own_cells(const Run& run, const Cells& cells, const at::Tensor& density, Communicator& comm, at::Tensor& best,
                    SampledCounts& counts) {
  CellLimits limits;
  limits.mean = std::max<int64_t>(1, (run.n + cells.count() - 1) / cells.count());
  limits.crowded = std::max(kCellRowTile, kCrowdedCell * limits.mean);
  const CellRounds rounds = cell_rounds(cells, limits, comm.size(), (run.n + comm.size() - 1) / comm.size());
  size_t round_count = 0;
  for (const auto& own_rounds : rounds) round_count = std::max(round_count, own_rounds.size());
  const auto& mine = rounds[static_cast<size_t>(comm.rank())];
  for (size_t g = 0; g < round_count; ++g) {
    const at::Tensor need = round_needs(cells, limits, rounds, g, best.device());
    const Wanted wanted = [&](int r, int64_t begin, int64_t end) {
      return need.select(1, r).index_select(0, cells.cell_of.slice(0, begin, end));
    };
    const HeldRows held = exchange_rows(run, wanted, comm);
    counts.peak_rows = std::max(counts.peak_rows, rows_held(run, held));
    if (g >= mine.size()) continue;
    for (const int64_t a : mine[g]) counts.cell_pairs += scan_cell(held, run.dim, cells, a, density, limits, 0, best);
  }
}

// Squared delta [N] (+inf where nothing denser was found), an upper bound of the exact
// one, identical on every rank. Collective: the rows' exchanges, then the sample part's
// and the cells' minima meet in one allreduce.
at::Tensor nearest_denser(const Run& run, const Sample& sample, const Cells& cells, const at::Tensor& density,
                          Communicator& comm, SampledCounts& counts) {
  at::Tensor best = at::full({run.n}, kInf, run.float_options());
  const at::Tensor sample_density = density.index_select(0, sample.index);
  const at::Tensor token_rows;  // the owned rows are tokens
  NearestDenserColumn handler(token_rows, density, sample_density, best, run.first_row);
  for_each_distance_tile(run.own_rows(), sample.points, run.dim, TilePlan{run.plan.tile, run.plan.tile}, handler);
  scan_own_cells(run, cells, density, comm, best, counts);
  comm.allreduce(best, ReduceOp::kMin);
  return best;
}

// Scores from squared deltas: delta (the maximum distance where nothing is denser) times
// density, element by element.
at::Tensor scores_of(const at::Tensor& best, const at::Tensor& density, const at::Tensor& max_distance) {
  return at::where(best.isfinite(), best.sqrt(), max_distance.expand_as(best)) * density;
}

// The nearest strictly denser row of each column: blocks are squared distances of rows
// [p0, p1) (densities row_density) to columns (column_density); the minimum over the rows
// denser than a column goes to best[column] if smaller.
class NearestDenserRow final : public DistanceHandler {
 public:
  NearestDenserRow(const at::Tensor& row_density, const at::Tensor& column_density, at::Tensor best)
      : row_density_(row_density), column_density_(column_density), best_(std::move(best)) {}

  void add_block(int64_t p0, int64_t p1, at::Tensor& block) override {
    const at::Tensor denser = row_density_.slice(0, p0, p1).unsqueeze(1).gt(column_density_.unsqueeze(0));
    block.masked_fill_(denser.logical_not(), kInf);
    best_.copy_(at::minimum(best_, std::get<0>(block.min(0))));
  }

 private:
  const at::Tensor& row_density_;
  const at::Tensor& column_density_;
  at::Tensor best_;
};

// The tokens of the density order's first `prefix` places, in tiles of kCellRowTile
// places, tile t on rank t mod P: every rank receives the rows of its tiles. Collective.
HeldRows exchange_density_tiles(const Run& run, const at::Tensor& rank_of, int64_t prefix, Communicator& comm) {
  const at::Tensor tile_owner = at::where(
      rank_of.lt(prefix), at::div(rank_of, kCellRowTile, "floor").remainder(comm.size()), at::full_like(rank_of, -1));
  const Wanted wanted = [&](int r, int64_t begin, int64_t end) { return tile_owner.slice(0, begin, end).eq(r); };
  return exchange_rows(run, wanted, comm);
}

// The exact delta of `candidates` (token ids in density order, their places in it
// `places` ascending) into exact: tiles of kCellRowTile places of the density order
// against the candidates placed after the tile's first row, in chunks of kCellColumns
// candidates (shapes fixed by the data); tile t on rank t mod P, the rows in `held`.
// Returns the distances computed (all ranks). Collective: each chunk's rows gathered.
int64_t candidates_against_denser(const Run& run, const HeldRows& held, const at::Tensor& by_density,
                                  const at::Tensor& candidates, const at::Tensor& places, const at::Tensor& density,
                                  Communicator& comm, at::Tensor& exact) {
  const at::Tensor place_cpu = places.to(at::kCPU).contiguous();
  const int64_t* place = place_cpu.data_ptr<int64_t>();
  const int64_t count = candidates.size(0), prefix = place[count - 1];
  int64_t pairs = 0;
  for (int64_t c0 = 0; c0 < count; c0 += kCellColumns) {
    const int64_t c1 = std::min(count, c0 + kCellColumns);
    const Points columns = dpc::gather_points(run, candidates.slice(0, c0, c1), comm);
    const at::Tensor column_density = density.index_select(0, candidates.slice(0, c0, c1));
    for (int64_t t = 0; t * kCellRowTile < prefix; ++t) {
      const int64_t r0 = t * kCellRowTile, r1 = std::min(prefix, r0 + kCellRowTile);
      const int64_t first = std::max<int64_t>(c0, std::upper_bound(place, place + count, r0) - place);
      if (first >= c1) continue;
      pairs += (r1 - r0) * (c1 - first);
      if (t % comm.size() != comm.rank()) continue;
      const at::Tensor rows = by_density.slice(0, r0, r1);
      const at::Tensor row_density = density.index_select(0, rows);
      const at::Tensor part_density = column_density.slice(0, first - c0);
      const Points part{columns.values.slice(0, first - c0), columns.norms.slice(0, first - c0)};
      NearestDenserRow handler(row_density, part_density, exact.slice(0, first, c1));
      for_each_distance_tile(RowSet{held.points, held.local(rows), 0, r1 - r0}, part, run.dim,
                             TilePlan{kCellRowTile, kCellRowTile}, handler);
    }
  }
  return pairs;
}

// The center candidates' exact delta: the `count` highest bound scores (density times
// the upper bound of delta in best) made exact in best, against the tokens denser than
// each: a prefix of the density order, whose rows go to the ranks in tiles. Collective.
void refine_candidates(const Run& run, const at::Tensor& density, const at::Tensor& max_distance, int64_t count,
                       Communicator& comm, at::Tensor& best, SampledCounts& counts) {
  const at::Tensor by_density = std::get<1>(at::sort(density, /*stable=*/true, 0, /*descending=*/true));
  const at::Tensor rank_of = dpc::inverse_permutation(by_density);
  const at::Tensor bound = scores_of(best, density, max_distance);
  const at::Tensor candidates =
      std::get<1>(at::sort(bound, /*stable=*/true, 0, /*descending=*/true)).slice(0, 0, count);
  const auto [places, order] = at::sort(rank_of.index_select(0, candidates));
  const at::Tensor ordered = candidates.index_select(0, order);
  // Only tokens placed before the last candidate can be denser than one.
  const HeldRows held = exchange_density_tiles(run, rank_of, places[count - 1].item<int64_t>(), comm);
  counts.peak_rows = std::max(counts.peak_rows, rows_held(run, held));
  at::Tensor exact = at::full({count}, kInf, run.float_options());
  counts.candidate_pairs = candidates_against_denser(run, held, by_density, ordered, places, density, comm, exact);
  comm.allreduce(exact, ReduceOp::kMin);
  best.index_put_({ordered}, at::minimum(best.index_select(0, ordered), exact));
}

}  // namespace

TokenRange sampled_shard(int64_t n, const DpcOptions& options, int rank, int size) {
  return dpc::run_shard(n, options, rank, size, options.sample_size);
}

namespace {

// The sampled method on a planned run (all N rows on every rank, or each rank's shard).
DpcResult sampled_run(const Run& run, const DpcOptions& options, Communicator& comm, DpcStats* stats) {
  const runtime::Stopwatch clock;
  const int64_t m = options.sample_size;
  const Sample sample = draw_sample(run, m, comm);
  const int64_t sample_k = std::clamp<int64_t>(std::llround(static_cast<double>(options.knn_k) * m / run.n), 1, m - 1);
  const SampleSummaries summaries = summarise_against_sample(run, sample, sample_k);
  DpcResult result;
  result.density = gather_rows(comm, (-(summaries.knn_sums / static_cast<double>(sample_k))).exp().to(at::kFloat));
  at::Tensor max_distance = summaries.row_maxima.max().reshape({1});
  comm.allreduce(max_distance, ReduceOp::kMax);
  max_distance = max_distance.sqrt();
  const Cells cells = group_cells(run, sample, summaries, comm);
  LOG(INFO) << "dpc-knn sampled: densities and cells, " << clock.elapsed() << " s so far";
  SampledCounts counts;
  counts.peak_rows = run.tokens.values.size(0);
  at::Tensor best = nearest_denser(run, sample, cells, result.density, comm, counts);
  LOG(INFO) << "dpc-knn sampled: delta from the sample and the cells, " << clock.elapsed() << " s so far";
  refine_candidates(run, result.density, max_distance, std::min(run.n, kCandidatesPerCenter * options.clusters), comm,
                    best, counts);
  result.delta = at::where(best.isfinite(), best.sqrt(), max_distance.expand({run.n}));
  result.score = result.delta * result.density;
  LOG(INFO) << "dpc-knn sampled: the candidates' exact delta (" << counts.candidate_pairs << " pairs), "
            << clock.elapsed() << " s so far";
  result.center_index = dpc::pick_centers(result.score, options.clusters);
  result.cluster_index = dpc::assign_clusters(run, result.center_index, comm);
  LOG(INFO) << "dpc-knn sampled: assignment, " << clock.elapsed() << " s so far; at most " << counts.peak_rows
            << " of the " << run.n << " token rows held on this rank at once";
  result.centroids = dpc::centroids(run, result.cluster_index, options.clusters, comm);
  if (stats != nullptr) {
    stats->tile_rows = run.plan.tile;
    stats->pass_rows = run.plan.tile;
    stats->candidate_pairs = counts.candidate_pairs;
    stats->cell_pairs = counts.cell_pairs;
    stats->peak_rows = counts.peak_rows;
    stats->seconds = clock.elapsed();
  }
  return result;
}

}  // namespace

DpcResult dpc_knn_sampled(const at::Tensor& tokens, const DpcOptions& options, Communicator& comm, DpcStats* stats) {
  if (options.sample_size >= tokens.size(0)) return dpc_knn(tokens, options, comm, stats);
  return sampled_run(dpc::plan_run(tokens, options, comm, options.sample_size), options, comm, stats);
}

DpcResult dpc_knn_sampled_shard(const at::Tensor& own_rows, int64_t n, const DpcOptions& options, Communicator& comm,
                                DpcStats* stats) {
  if (options.sample_size >= n) return dpc_knn(gather_rows(comm, own_rows), options, comm, stats);
  return sampled_run(dpc::plan_shard_run(own_rows, n, options, comm, options.sample_size), options, comm, stats);
}

}  // namespace missrec::cluster
