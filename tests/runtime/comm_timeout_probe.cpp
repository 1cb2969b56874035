// Test driver: every rank but the last enters an allreduce that the last rank skips
// (it sleeps instead). The collective timeout must end the whole job with a message
// naming the operation. Usage: comm_timeout_probe TIMEOUT_S
#include <glog/logging.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "runtime/comm.h"
#include "runtime/logging.h"
#include "runtime/mpi_world.h"

int main(int argc, char** argv) {
  using namespace missrec::runtime;
  MpiWorld world(&argc, &argv);
  init_logging(argv[0], world.rank(), world.size(), world.host());
  const double timeout_s = argc > 1 ? std::atof(argv[1]) : 3.0;
  auto comm = make_communicator("mpi", world, timeout_s);
  comm->barrier();  // everyone is up
  if (world.rank() == world.size() - 1) {
    std::this_thread::sleep_for(std::chrono::duration<double>(timeout_s * 20));
  } else {
    at::Tensor values = at::ones({1024});
    comm->allreduce(values, ReduceOp::kSum);
  }
  LOG(ERROR) << "unreachable: the skipped collective did not time out";
  world.finalize();
  return 0;
}
