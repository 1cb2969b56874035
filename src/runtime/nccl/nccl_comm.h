#pragma once

#include <memory>

#include "runtime/comm.h"

namespace missrec::runtime {

// Defined by nccl_comm.cpp when CMake builds the NCCL backend, and by nccl_absent.cpp
// (which reports that it is not built) otherwise.
// `device` is the rank's GPU; two ranks on one GPU are refused (NCCL cannot share one).
std::unique_ptr<Communicator> make_nccl_communicator(const MpiWorld& world, double timeout_s, at::Device device);

}  // namespace missrec::runtime
