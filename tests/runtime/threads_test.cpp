#include "runtime/threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace missrec::runtime
