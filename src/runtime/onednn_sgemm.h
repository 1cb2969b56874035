#pragma once

#include <cstdint>

namespace missrec::runtime {

// oneDNN's row-major SGEMM, when the process has it: Debian's LibTorch links oneDNN, and
// at the shapes this program multiplies its SGEMM is faster than OpenBLAS's
// (docs/performance.md) and writes C without a separate zeroing pass when beta is 0.
// PyPI's LibTorch may not export it; callers then use LibTorch's BLAS.
bool has_onednn_sgemm();

// C [m, n] = alpha op(A) op(B) + beta C, row-major, on the intra-op (OpenMP) threads.
// Each element of C is one dot product over k, whatever the thread count at these shapes.
// CHECK-fails when the process lacks oneDNN or oneDNN reports an error.
void onednn_sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Whether the CPU multiplies bf16 in hardware (AVX512_BF16 or AMX-BF16): where it does
// not, bf16 products would be emulated and slower than fp32.
bool cpu_has_bf16_arithmetic();

// oneDNN's bf16 GEMM with float32 accumulation and output, when the process has it:
// C [m, n] = alpha op(A) op(B) + beta C, row-major, A and B bfloat16 (as at::BFloat16's
// 16 bits). CHECK-fails when the process lacks it or oneDNN reports an error.
bool has_onednn_bf16_gemm();
void onednn_gemm_bf16(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                      int64_t ldc);

}  // namespace missrec::runtime
