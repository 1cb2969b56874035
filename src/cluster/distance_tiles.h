#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace missrec::cluster {

// Points of a distance computation: values [M, D] float32 and their squared norms [M].
struct Points {
  at::Tensor values;
  at::Tensor norms;
};

// The rows a distance loop visits: positions [begin, end) of a list of points, the list
// being `points` itself (index undefined) or points[index] (index int64 [L], on the
// points' device).
struct RowSet {
  Points points;
  at::Tensor index;
  int64_t begin = 0;
  int64_t end = 0;

  // Positions [p0, p1) of the list, as points of their own.
  Points select(int64_t p0, int64_t p1) const;
};

// Rows per GEMM call (`tile`), and rows per block handed to the handler (`pass`, whole
// tiles: pass is a multiple of tile, or reaches the end of the rows).
struct TilePlan {
  int64_t tile = 0;
  int64_t pass = 0;
};

// What a block holds: kSquaredDistances, the squared scaled distances
// max(|a|^2 - 2 a.b + |b|^2, 0) / dim; kProducts, only the GEMM outputs -2 a.b, for a
// handler that finishes the distances itself with the same float operations in the same
// order (summarise_rows).
enum class DistanceForm { kSquaredDistances, kProducts };

// Receives the distance blocks of a loop, in row order (FAISS's ResultHandler).
class DistanceHandler {
 public:
  virtual ~DistanceHandler() = default;
  virtual DistanceForm form() const { return DistanceForm::kSquaredDistances; }
  // `block` [p1 - p0, M]: rows at positions [p0, p1) of the RowSet against every column.
  // The handler may overwrite it; the loop reuses its memory for the next block.
  virtual void add_block(int64_t p0, int64_t p1, at::Tensor& block) = 0;
};

// Seconds the loop spent computing distances, and in the handler.
struct TileTimes {
  double distance_s = 0.0;
  double handler_s = 0.0;
};

// -2 a_i.b_j of rows [R, D] against columns [M, D], into `out` [R, M]. Scaling by -2 is
// exact (a power of two), so this equals -2 times the product.
void minus_two_products(const at::Tensor& rows, const at::Tensor& columns, at::Tensor& out);

// Squared scaled distances |a_i - b_j|^2 / dim of rows against columns, clamped at 0, into
// `out` [R, M]: minus_two_products, then + |a_i|^2, + |b_j|^2, clamp, / dim, in that order.
void distance_rows(const at::Tensor& rows, const at::Tensor& row_norms, const at::Tensor& columns,
                   const at::Tensor& column_norms, double dim, at::Tensor& out);

// The one tiled distance loop: blocks of plan.pass rows starting at rows.begin, each
// computed one GEMM call per tile of plan.tile rows (tiles start at rows.begin + m * tile,
// so a tile's shape, and with it the BLAS rounding, depends on the plan and the positions
// only), in the handler's form, then handed to handler.add_block. One [min(pass, rows),
// M] buffer lives through the loop.
TileTimes for_each_distance_tile(const RowSet& rows, const Points& columns, double dim, const TilePlan& plan,
                                 DistanceHandler& handler);

}  // namespace missrec::cluster
