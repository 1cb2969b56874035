#pragma once

#include <memory>

#include "runtime/comm.h"

namespace missrec::runtime {

// Defined by nccl_comm.cpp when CMake builds the NCCL backend, and by nccl_absent.cpp
// (which reports that it is not built) otherwise.
std::unique_ptr<Communicator> make_nccl_communicator(const MpiWorld& world, double timeout_s);

}  // namespace missrec::runtime
