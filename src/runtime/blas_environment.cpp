#include "runtime/blas_environment.h"

#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <cstdlib>

#include "runtime/stop_request.h"

namespace missrec::runtime {

namespace {

// Set by configure_blas_environment before its exec: what it changed (so that the new
// image neither repeats it nor loops).
constexpr const char* kNoteVariable = "MISSREC_BLAS_ENVIRONMENT";
constexpr const char* kThreadTimeout = "12";
constexpr const char* kOpenMpSpin = "10000";

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

void configure_blas_environment(char** argv) {
  if (std::getenv(kNoteVariable) != nullptr) return;
  const char* core = openblas_core_name();
  if (core == nullptr) return;  // another BLAS
  std::string note;
  const char* kernels = supported_kernels();
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && kernels != nullptr && strcasecmp(core, "Prescott") == 0) {
    if (setenv("OPENBLAS_CORETYPE", kernels, 1) != 0) return;
    note = std::string("OPENBLAS_CORETYPE=") + kernels + " (OpenBLAS chose " + core +
           ", which leaves this CPU's vector units unused)";
  }
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr && std::getenv("GOTO_THREAD_TIMEOUT") == nullptr) {
    if (setenv("OPENBLAS_THREAD_TIMEOUT", kThreadTimeout, 1) != 0) return;
    note += std::string(note.empty() ? "" : ", ") + "OPENBLAS_THREAD_TIMEOUT=" + kThreadTimeout +
            " (idle BLAS threads sleep instead of spinning)";
  }
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    if (setenv("GOMP_SPINCOUNT", kOpenMpSpin, 1) != 0) return;
    note += std::string(note.empty() ? "" : ", ") + "GOMP_SPINCOUNT=" + kOpenMpSpin +
            " (idle OpenMP threads spin briefly, then sleep)";
  }
  if (note.empty()) return;
  if (setenv(kNoteVariable, note.c_str(), 1) != 0) return;
  hold_stop_signals_across_exec();
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the settings OpenBLAS already has.
  unsetenv(kNoteVariable);
  release_held_signals();
}

std::string blas_environment_note() {
  const char* note = std::getenv(kNoteVariable);
  return note != nullptr ? std::string("OpenBLAS settings: ") + note + "; set them yourself to choose" : "";
}

}  // namespace missrec::runtime
