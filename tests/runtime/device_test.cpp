#include "runtime/device.h"

#include <gtest/gtest.h>

#include "runtime/error.h"

namespace missrec::runtime {
namespace {

TEST(SelectDevice, CpuWhenAskedOrWhenNoGpuIsVisible) {
  EXPECT_EQ(select_device("cpu", 3, 8), at::Device(at::kCPU));
  EXPECT_EQ(select_device("auto", 3, 0), at::Device(at::kCPU));
}

TEST(SelectDevice, LocalRankModVisibleGpus) {
  EXPECT_EQ(select_device("auto", 5, 8), at::Device(at::kCUDA, 5));
  EXPECT_EQ(select_device("cuda", 9, 8), at::Device(at::kCUDA, 1));
  // One GPU per task (Slurm --gpus-per-task=1): every task uses its device 0.
  EXPECT_EQ(select_device("cuda", 3, 1), at::Device(at::kCUDA, 0));
}

TEST(SelectDevice, CudaWithoutAGpuAndUnknownChoicesAreInputErrors) {
  try {
    select_device("cuda", 0, 0);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("run.device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(select_device("tpu", 0, 1), InputError);
}

}  // namespace
}  // namespace missrec::runtime
