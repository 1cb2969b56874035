#pragma once

#include <string>

namespace missrec::runtime {

// OpenBLAS chooses its kernels when it is loaded, from a table of the CPUs it knows.
// Debian 12's (0.3.21) does not know newer CPUs (e.g. Sapphire Rapids) and falls back to
// its SSE3 kernels ("Prescott"), about 3.5x slower at SGEMM on such a CPU with AVX-512
// (measured: 0.83 s against 2.8 s for the distance GEMMs of `missrec bench cluster`).
// Called first in main: in that case, and unless OPENBLAS_CORETYPE is set already, it
// sets OPENBLAS_CORETYPE to the kernels the CPU supports (SkylakeX with AVX-512, Haswell
// with AVX2) and runs this program again, once, in the same process (exec).
void use_native_blas_kernels(char** argv);

// For the startup log: which kernels were chosen this way, or "" when none were.
std::string blas_kernel_note();

}  // namespace missrec::runtime
