#pragma once

#include <cstdint>

namespace missrec::runtime {

// oneDNN's row-major SGEMM, when the process has it: Debian's LibTorch links oneDNN, and
// at the shapes this program multiplies its SGEMM runs 10-30% faster than OpenBLAS's on
// 2 cores (figures in docs/performance.md) and writes C without a separate zeroing pass
// when beta is 0. PyPI's LibTorch may not export it; callers then use LibTorch's BLAS.
bool has_onednn_sgemm();

// C [m, n] = alpha op(A) op(B) + beta C, row-major, on the intra-op (OpenMP) threads.
// Each element of C is one dot product over k, whatever the thread count at these shapes.
// CHECK-fails when the process lacks oneDNN or oneDNN reports an error.
void onednn_sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace missrec::runtime
