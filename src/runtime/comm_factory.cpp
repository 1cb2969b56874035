#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/mpi_comm.h"
#include "runtime/nccl/nccl_comm.h"

namespace missrec::runtime {

std::unique_ptr<Communicator> make_communicator(BackendChoice backend, const MpiWorld& world, double timeout_s,
                                                at::Device device) {
  if (backend == BackendChoice::kMpi ||
      (backend == BackendChoice::kAuto && !(nccl_backend_built() && device.is_cuda()))) {
    return std::make_unique<MpiCommunicator>(world, timeout_s, device);
  }
  if (!nccl_backend_built()) {
    throw_input_error("dist.backend",
                      "nccl requested but this build has no NCCL backend (rebuild with "
                      "-DMISSREC_WITH_NCCL=ON and a CUDA LibTorch)");
  }
  if (!device.is_cuda()) {
    throw_input_error("dist.backend", "nccl needs a GPU, but this rank runs on " + device.str() +
                                          " (run.device=cpu, or LibTorch sees no CUDA device)");
  }
  return make_nccl_communicator(world, timeout_s, device);
}

}  // namespace missrec::runtime
