// gtest main for tests that run under mpirun: every rank runs every test; only rank 0
// prints the progress, the others their failures; the job fails if any rank fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "runtime/comm.h"
#include "runtime/logging.h"
#include "runtime/mpi_world.h"
#include "support/gtest_status.h"
#include "support/mpi_test_env.h"

namespace missrec::testing::detail {
extern runtime::MpiWorld* g_world;
extern runtime::Communicator* g_comm;
}  // namespace missrec::testing::detail

namespace {

// On ranks other than 0 the progress printer is removed (one copy of it is enough), but
// their failures must still be seen: this prints each failed assertion with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  // gtest holds its own lock while reporting a result: the test's name is kept here.
  void OnTestStart(const ::testing::TestInfo& test) override {
    test_ = std::string(test.test_suite_name()) + "." + test.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s: %s:%d: failure\n%s\n", rank_, test_.c_str(),
                 result.file_name() ? result.file_name() : "?", result.line_number(), result.message());
  }

 private:
  int rank_;
  std::string test_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace missrec;
  runtime::MpiWorld world(&argc, &argv);
  runtime::init_logging(argv[0], world.rank(), world.size(), world.host());
  ::testing::InitGoogleTest(&argc, argv);
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(world.rank()));
  }
  int failed = 0;
  {
    // The tests build their tensors on the CPU, whatever GPUs the host has.
    auto comm = runtime::make_communicator(runtime::BackendChoice::kMpi, world, 60.0, at::kCPU);
    missrec::testing::detail::g_world = &world;
    missrec::testing::detail::g_comm = comm.get();
    // 0 passed, 1 failed, 77 all skipped (missrec::testing::gtest_exit_status); the job
    // fails if any rank failed, and is skipped only if every rank skipped everything.
    const int status = missrec::testing::gtest_exit_status(RUN_ALL_TESTS());
    at::Tensor outcome = at::tensor({status == 1 ? 1L : 0L, status == 77 ? 0L : 1L}, at::kLong).to(comm->device());
    comm->allreduce(outcome, runtime::ReduceOp::kMax);
    const at::Tensor host = outcome.to(at::kCPU);
    failed = host[0].item<int64_t>() != 0 ? 1 : host[1].item<int64_t>() == 0 ? missrec::testing::kSkippedStatus : 0;
    missrec::testing::detail::g_comm = nullptr;
    missrec::testing::detail::g_world = nullptr;
  }
  world.finalize();
  return failed;
}
