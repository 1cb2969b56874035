#include "runtime/onednn_sgemm.h"

#include <dlfcn.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <glog/logging.h>

namespace missrec::runtime {

namespace {

// dnnl_sgemm's signature; it returns dnnl_success (0) or an error status.
using DnnlSgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);

DnnlSgemm process_dnnl_sgemm() {
  static const DnnlSgemm sgemm = reinterpret_cast<DnnlSgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
  return sgemm;
}

// dnnl_gemm_bf16bf16f32's signature (bfloat16_t is 16 bits).
using DnnlGemmBf16 = int (*)(char, char, int64_t, int64_t, int64_t, float, const uint16_t*, int64_t, const uint16_t*,
                             int64_t, float, float*, int64_t);

DnnlGemmBf16 process_dnnl_gemm_bf16() {
  static const DnnlGemmBf16 gemm = reinterpret_cast<DnnlGemmBf16>(dlsym(RTLD_DEFAULT, "dnnl_gemm_bf16bf16f32"));
  return gemm;
}

}  // namespace

bool has_onednn_sgemm() { return process_dnnl_sgemm() != nullptr; }

bool cpu_has_bf16_arithmetic() {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // CPUID leaf 7: subleaf 1 EAX bit 5 is AVX512_BF16; subleaf 0 EDX bit 22 is AMX-BF16.
  const bool avx512_bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
  const bool amx_bf16 = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 22)) != 0;
  return avx512_bf16 || amx_bf16;
#else
  return false;
#endif
}

bool has_onednn_bf16_gemm() { return process_dnnl_gemm_bf16() != nullptr; }

void onednn_gemm_bf16(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                      int64_t ldc) {
  const DnnlGemmBf16 gemm = process_dnnl_gemm_bf16();
  CHECK(gemm != nullptr) << "dnnl_gemm_bf16bf16f32 is not in this process";
  const int status =
      gemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  CHECK_EQ(status, 0) << "dnnl_gemm_bf16bf16f32(" << m << ", " << n << ", " << k << ") failed";
}

void onednn_sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const DnnlSgemm sgemm = process_dnnl_sgemm();
  CHECK(sgemm != nullptr) << "dnnl_sgemm is not in this process";
  const int status =
      sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  CHECK_EQ(status, 0) << "dnnl_sgemm(" << m << ", " << n << ", " << k << ") failed";
}

}  // namespace missrec::runtime
