#include "runtime/blas_kernels.h"

#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <cstdlib>

namespace missrec::runtime {

namespace {

constexpr const char* kChosenVariable = "MISSREC_BLAS_KERNELS_CHOSEN";

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

}  // namespace

void use_native_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || std::getenv(kChosenVariable) != nullptr) return;
  const char* core = openblas_core_name();
  const char* kernels = supported_kernels();
  if (core == nullptr || kernels == nullptr || strcasecmp(core, "Prescott") != 0) return;
  if (setenv("OPENBLAS_CORETYPE", kernels, 1) != 0 || setenv(kChosenVariable, core, 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the kernels OpenBLAS chose.
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kChosenVariable);
}

std::string blas_kernel_note() {
  const char* replaced = std::getenv(kChosenVariable);
  const char* chosen = std::getenv("OPENBLAS_CORETYPE");
  if (replaced == nullptr || chosen == nullptr) return "";
  return std::string("OpenBLAS kernels: ") + chosen + " (OpenBLAS's own choice, " + replaced +
         ", does not use this CPU's vector units; set OPENBLAS_CORETYPE to choose)";
}

}  // namespace missrec::runtime
