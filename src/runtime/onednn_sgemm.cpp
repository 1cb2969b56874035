#include "runtime/onednn_sgemm.h"

#include <dlfcn.h>
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

}  // namespace

bool has_onednn_sgemm() { return process_dnnl_sgemm() != nullptr; }

void onednn_sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const DnnlSgemm sgemm = process_dnnl_sgemm();
  CHECK(sgemm != nullptr) << "dnnl_sgemm is not in this process";
  const int status =
      sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  CHECK_EQ(status, 0) << "dnnl_sgemm(" << m << ", " << n << ", " << k << ") failed";
}

}  // namespace missrec::runtime
