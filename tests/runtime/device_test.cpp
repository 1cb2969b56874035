#include "runtime/device.h"

#include <gtest/gtest.h>

#include "runtime/config.h"
#include "runtime/error.h"

namespace missrec::runtime {
namespace {

TEST(SelectDevice, CpuWhenAskedOrWhenNoGpuIsVisible) {
  EXPECT_EQ(select_device(DeviceChoice::kCpu, 3, 8), at::Device(at::kCPU));
  EXPECT_EQ(select_device(DeviceChoice::kAuto, 3, 0), at::Device(at::kCPU));
}

TEST(SelectDevice, LocalRankModVisibleGpus) {
  EXPECT_EQ(select_device(DeviceChoice::kAuto, 5, 8), at::Device(at::kCUDA, 5));
  EXPECT_EQ(select_device(DeviceChoice::kCuda, 9, 8), at::Device(at::kCUDA, 1));
  // One GPU per task (Slurm --gpus-per-task=1): every task uses its device 0.
  EXPECT_EQ(select_device(DeviceChoice::kCuda, 3, 1), at::Device(at::kCUDA, 0));
}

TEST(SelectDevice, CudaWithoutAGpuAndUnknownChoicesAreInputErrors) {
  try {
    select_device(DeviceChoice::kCuda, 0, 0);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("run.device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_choice<DeviceChoice>("tpu", "run.device"), InputError);
}

}  // namespace
}  // namespace missrec::runtime
