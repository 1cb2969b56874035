#pragma once

#include <string>

namespace missrec::runtime {

// OpenBLAS reads its settings from the environment when it is loaded, before main. Two
// of its defaults cost this program time, so main sets them (unless the user has) and
// runs itself again, once, in the same process (exec):
// * Kernels. OpenBLAS chooses them from a table of the CPUs it knows; Debian 12's
//   (0.3.21) does not know newer ones (e.g. Sapphire Rapids) and falls back to its SSE3
//   kernels ("Prescott"), several times slower at SGEMM there (docs/performance.md).
//   OPENBLAS_CORETYPE then names the kernels the CPU supports (SkylakeX with AVX-512,
//   Haswell with AVX2).
// * Idle threads. After each GEMM OpenBLAS's worker threads spin for about 2^28 cycles
//   taking cores from the OpenMP threads of the code between GEMMs (the refresh's row
//   selection). OPENBLAS_THREAD_TIMEOUT=12 lets them sleep after 4096 cycles; the
//   training step is unchanged by it.
// * Idle OpenMP threads (LibTorch's intra-op threads, libgomp) spin likewise after each
//   parallel operation, for 300,000 rounds, against OpenBLAS's threads for the same
//   cores; sleeping at once (OMP_WAIT_POLICY=PASSIVE) makes every parallel operation
//   wait for a wake-up instead. GOMP_SPINCOUNT=10000 spins briefly, then sleeps: faster
//   than either at batch 256 (docs/performance.md), and it lets the step's small
//   operations use every thread. Left alone when OMP_WAIT_POLICY or GOMP_SPINCOUNT is
//   set.
// Signals that arrive meanwhile are held until the command's stop handlers are installed
// or it starts (runtime/stop_request.h).
void configure_blas_environment(char** argv);

// For the startup log: what configure_blas_environment set, or "" when nothing.
std::string blas_environment_note();

}  // namespace missrec::runtime
