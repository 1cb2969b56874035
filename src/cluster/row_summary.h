#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace missrec::cluster {

// Where summarise_rows writes, per row of the block (each array starts at the block's
// first row).
struct RowSummaries {
  double* sums;         // [R] the float64 sum of the row's k smallest values
  float* kept_values;   // [R, kept] the row's kept smallest values, ascending
  int64_t* kept_index;  // [R, kept] their columns (ties: the lower column first)
  float* row_max;       // [R] the row's largest value
};

// kWidest: the widest vector code the CPU runs (AVX-512 where present). kPortable: plain
// code only; tests check it gives the same bits, so a job may mix hosts with and without
// AVX-512.
enum class SummaryKernel { kWidest, kPortable };

// The CPU's per-row selection of DPC-KNN. `block` [R, N] float32 holds the GEMM outputs
// -2 a_i.b_j of R rows against all N columns; they become squared scaled distances
// max(-2 a.b + |a_i|^2 + |b_j|^2, 0) / dim in place (the float operations of the tensor-op
// path, in its order), and each row is summarised into `out`. Rows are split over the
// intra-op threads; each row's results depend on that row alone. Requires
// 1 <= kept <= k <= N.
//
// How: a row's values in [0, max] are counted into equal-width buckets; the bucket of
// the k-th smallest value is found from the counts, the values below it are summed in
// fixed lanes, and only that bucket's few values (and those up to the kept-th's bucket)
// are sorted.
void summarise_rows(at::Tensor& block, const float* row_norms, const float* norms, float dim, int64_t k, int64_t kept,
                    const RowSummaries& out, SummaryKernel kernel = SummaryKernel::kWidest);

}  // namespace missrec::cluster
