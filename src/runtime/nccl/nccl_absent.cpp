#include "runtime/error.h"
#include "runtime/nccl/nccl_comm.h"

namespace missrec::runtime {

bool nccl_backend_built() { return false; }

std::string nccl_version_string() { return ""; }

std::unique_ptr<Communicator> make_nccl_communicator(const MpiWorld&, double, at::Device) {
  throw_input_error("dist.backend", "nccl: not built into this binary");
}

}  // namespace missrec::runtime
