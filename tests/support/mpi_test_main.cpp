// gtest main for tests that run under mpirun: every rank runs every test; only rank 0
// prints the progress; the job fails if any rank fails.
#include <gtest/gtest.h>

#include "runtime/comm.h"
#include "runtime/logging.h"
#include "runtime/mpi_world.h"
#include "support/mpi_test_env.h"

namespace missrec::testing::detail {
extern runtime::MpiWorld* g_world;
extern runtime::Communicator* g_comm;
}  // namespace missrec::testing::detail

int main(int argc, char** argv) {
  using namespace missrec;
  runtime::MpiWorld world(&argc, &argv);
  runtime::init_logging(argv[0], world.rank(), world.size(), world.host());
  ::testing::InitGoogleTest(&argc, argv);
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = 0;
  {
    // The tests build their tensors on the CPU, whatever GPUs the host has.
    auto comm = runtime::make_communicator("mpi", world, 60.0, at::kCPU);
    missrec::testing::detail::g_world = &world;
    missrec::testing::detail::g_comm = comm.get();
    failed = RUN_ALL_TESTS() == 0 ? 0 : 1;
    at::Tensor any_failed = at::full({1}, failed, at::kLong).to(comm->device());
    comm->allreduce(any_failed, runtime::ReduceOp::kMax);
    failed = static_cast<int>(any_failed.to(at::kCPU).item<int64_t>());
    missrec::testing::detail::g_comm = nullptr;
    missrec::testing::detail::g_world = nullptr;
  }
  world.finalize();
  return failed;
}
