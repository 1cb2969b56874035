#pragma once

#include "runtime/comm.h"
#include "runtime/mpi_world.h"

namespace missrec::testing {

// The job's world and a communicator over it, set up by mpi_test_main before the tests.
runtime::MpiWorld& world();
runtime::Communicator& comm();

}  // namespace missrec::testing
