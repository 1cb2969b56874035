#include "cluster/distance_tiles.h"

#include <glog/logging.h>

#include <algorithm>

#include "runtime/onednn_sgemm.h"
#include "runtime/stopwatch.h"

namespace missrec::cluster {

Points RowSet::select(int64_t p0, int64_t p1) const {
  if (!index.defined()) return Points{points.values.slice(0, p0, p1), points.norms.slice(0, p0, p1)};
  const at::Tensor rows = index.slice(0, p0, p1);
  return Points{points.values.index_select(0, rows), points.norms.index_select(0, rows)};
}

// On the CPU, oneDNN's SGEMM with alpha -2 when the process has it (faster here, and no
// zeroing pass); otherwise the rows are scaled before LibTorch's product.
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

void distance_rows(const at::Tensor& rows, const at::Tensor& row_norms, const at::Tensor& columns,
                   const at::Tensor& column_norms, double dim, at::Tensor& out) {
  minus_two_products(rows, columns, out);
  out.add_(row_norms.unsqueeze(1)).add_(column_norms.unsqueeze(0)).clamp_min_(0.0).div_(dim);
}

TileTimes for_each_distance_tile(const RowSet& rows, const Points& columns, double dim, const TilePlan& plan,
                                 DistanceHandler& handler) {
  CHECK_GT(plan.tile, 0);
  CHECK_GT(plan.pass, 0);
  TileTimes times;
  if (rows.end <= rows.begin) return times;
  const bool products = handler.form() == DistanceForm::kProducts;
  at::Tensor buffer =
      at::empty({std::min(plan.pass, rows.end - rows.begin), columns.values.size(0)}, rows.points.values.options());
  for (int64_t p0 = rows.begin; p0 < rows.end; p0 += plan.pass) {
    const int64_t p1 = std::min(rows.end, p0 + plan.pass);
    at::Tensor block = buffer.narrow(0, 0, p1 - p0);
    runtime::Stopwatch clock;
    for (int64_t t0 = p0; t0 < p1; t0 += plan.tile) {
      const int64_t t1 = std::min(p1, t0 + plan.tile);
      at::Tensor out = block.narrow(0, t0 - p0, t1 - t0);
      const Points tile = rows.select(t0, t1);
      if (products) {
        minus_two_products(tile.values, columns.values, out);
      } else {
        distance_rows(tile.values, tile.norms, columns.values, columns.norms, dim, out);
      }
    }
    times.distance_s += clock.lap();
    handler.add_block(p0, p1, block);
    times.handler_s += clock.lap();
  }
  return times;
}

}  // namespace missrec::cluster
