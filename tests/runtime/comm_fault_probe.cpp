// Test driver for job-wide failure handling. Usage: comm_fault_probe MODE TIMEOUT_S
//   skip:  the last rank skips an allreduce the others enter (it sleeps instead); the
//          collective timeout must end the job naming the operation.
//   throw: the last rank throws an uncaught exception while the others wait in an
//          allreduce; the terminate handler must log it and MPI_Abort the job.
#include <glog/logging.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "runtime/abort.h"
#include "runtime/comm.h"
#include "runtime/logging.h"
#include "runtime/mpi_world.h"

int main(int argc, char** argv) {
  using namespace missrec::runtime;
  install_terminate_handler();
  MpiWorld world(&argc, &argv);
  init_logging(argv[0], world.rank(), world.size(), world.host());
  const std::string mode = argc > 1 ? argv[1] : "skip";
  const double timeout_s = argc > 2 ? std::atof(argv[2]) : 3.0;
  auto comm = make_communicator(BackendChoice::kMpi, world, timeout_s, at::kCPU);
  comm->barrier();  // everyone is up
  if (world.rank() == world.size() - 1) {
    if (mode == "throw") throw std::runtime_error("injected failure on the last rank");
    std::this_thread::sleep_for(std::chrono::duration<double>(timeout_s * 20));
  } else {
    at::Tensor values = at::ones({1024});
    comm->allreduce(values, ReduceOp::kSum);
  }
  LOG(ERROR) << "unreachable: the job survived the injected fault";
  world.finalize();
  return 0;
}
