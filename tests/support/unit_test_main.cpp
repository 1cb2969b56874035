// gtest main for one-process tests: exits 77 (CTest's skip status) when every test that
// ran was skipped.
#include <gtest/gtest.h>

#include "support/gtest_status.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return missrec::testing::gtest_exit_status(RUN_ALL_TESTS());
}
