#pragma once

#include <string>

namespace missrec::runtime {

// OpenBLAS and libgomp read their settings from the environment when they load, before
// main, so the launchers set them (launch/env.sh): OPENBLAS_CORETYPE where OpenBLAS would
// fall back to its SSE3 ("Prescott") kernels on a CPU with AVX2 or AVX-512,
// OPENBLAS_THREAD_TIMEOUT and GOMP_SPINCOUNT so that idle BLAS and OpenMP threads soon
// sleep instead of taking each other's cores. This returns, for a warning, the settings
// that are missing here and matter (OpenBLAS is the BLAS; for the kernels, it chose
// Prescott on such a CPU), with what to do; "" when none. The process never restarts
// itself to set them.
std::string missing_blas_settings();

}  // namespace missrec::runtime
