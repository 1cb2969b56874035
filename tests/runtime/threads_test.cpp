#include "runtime/threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace missrec::runtime {
namespace {

TEST(Threads, ExplicitCountIsApplied) {
  EXPECT_EQ(configure_threads(3, 1), 3);
  EXPECT_EQ(at::get_num_threads(), 3);
}

TEST(Threads, AutomaticCountIsAtLeastOneAndShared) {
  const int alone = configure_threads(0, 1);
  EXPECT_GE(alone, 1);
  EXPECT_EQ(at::get_num_threads(), alone);
  const int shared = configure_threads(0, 1000);  // more ranks than CPUs on the node
  EXPECT_EQ(shared, 1);
}

TEST(Threads, RunPartsRunsEveryPartOnceAndRethrows) {
  configure_threads(3, 1);
  for (const int64_t parts : {1, 2, 3, 7}) {
    std::vector<std::atomic<int>> runs(static_cast<size_t>(parts));
    run_parts(parts, [&](int64_t part) { ++runs[static_cast<size_t>(part)]; });
    for (int64_t part = 0; part < parts; ++part) EXPECT_EQ(runs[static_cast<size_t>(part)].load(), 1) << part;
  }
  EXPECT_THROW(run_parts(4,
                         [](int64_t part) {
                           if (part == 2) throw std::runtime_error("part 2");
                         }),
               std::runtime_error);
  EXPECT_EQ(at::get_num_threads(), 3);  // restored after the parts, and after a throw
}

}  // namespace
}  // namespace missrec::runtime
