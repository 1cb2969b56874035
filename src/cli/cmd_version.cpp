#include <mpi.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "build_info.h"
#include "cli/commands.h"
#include "runtime/comm.h"
#include "runtime/error.h"

namespace missrec::cli {

namespace {

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<size_t>(length));
  const size_t end = version.find_first_of(",\n");
  return end == std::string::npos ? version : version.substr(0, end);
}

// The BLAS LibTorch actually loaded: Debian's reference BLAS is far slower than
// OpenBLAS, so say which one this process runs on.
std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find("libblas") == std::string::npos && path.find("libopenblas") == std::string::npos &&
        path.find("libmkl") == std::string::npos) {
      continue;
    }
    char resolved[PATH_MAX];
    return realpath(path.c_str(), resolved) != nullptr ? resolved : path;
  }
  // PyPI's LibTorch links MKL statically into libtorch_cpu.so.
  if (at::hasMKL()) return "MKL, linked into LibTorch";
  return "none loaded";
}

}  // namespace

CommandSpec version_command() {
  CommandSpec command;
  command.name = "version";
  command.summary =
      "Prints the version, the LibTorch version, the backends built and the "
      "devices this process sees.";
  command.run = [](const ParsedArgs&, CommandContext&) {
    std::cout << "missrec " << MISSREC_VERSION << "\n";
    std::cout << "libtorch: " << TORCH_VERSION << (MISSREC_TORCH_CUDA ? " (CUDA)" : " (CPU)") << "\n";
    std::cout << "backends: mpi: built (" << mpi_library_version() << "); nccl: "
              << (runtime::nccl_backend_built() ? "built (NCCL " + runtime::nccl_version_string() + ")"
                                                : std::string("not built"))
              << "\n";
    std::cout << "devices: cpu (" << at::get_num_threads() << " threads)";
    const auto gpus = torch::cuda::device_count();
    if (gpus > 0) {
      std::cout << ", cuda x" << gpus;
    } else {
      std::cout << ", cuda: none visible";
    }
    std::cout << "\nblas: " << loaded_blas() << "\n";
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
