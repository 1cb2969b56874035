#include "runtime/blas_environment.h"

#include <dlfcn.h>
#include <strings.h>

#include <cstdlib>

namespace missrec::runtime {

namespace {

const char* openblas_core_name() {
  using CoreName = char* (*)();
  const auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return core_name != nullptr ? core_name() : nullptr;
}

const char* supported_kernels() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

bool unset(const char* name) { return std::getenv(name) == nullptr; }

}  // namespace

std::string missing_blas_settings() {
  const char* core = openblas_core_name();
  if (core == nullptr) return "";  // another BLAS
  std::string missing;
  const char* kernels = supported_kernels();
  if (unset("OPENBLAS_CORETYPE") && kernels != nullptr && strcasecmp(core, "Prescott") == 0) {
    missing = std::string("OPENBLAS_CORETYPE=") + kernels + " (OpenBLAS chose " + core +
              ", which leaves this CPU's vector units unused)";
  }
  if (unset("OPENBLAS_THREAD_TIMEOUT") && unset("GOTO_THREAD_TIMEOUT")) {
    missing += std::string(missing.empty() ? "" : ", ") + "OPENBLAS_THREAD_TIMEOUT=12";
  }
  if (unset("OMP_WAIT_POLICY") && unset("GOMP_SPINCOUNT")) {
    missing += std::string(missing.empty() ? "" : ", ") + "GOMP_SPINCOUNT=10000";
  }
  if (missing.empty()) return "";
  return "BLAS/OpenMP settings missing from the environment: " + missing +
         "; launch through launch/mpirun.sh or a launch/slurm script, or source launch/env.sh first";
}

}  // namespace missrec::runtime
