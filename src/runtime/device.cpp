#include "runtime/device.h"

#include <torch/cuda.h>

#include "runtime/error.h"
#include "runtime/mpi_world.h"

namespace missrec::runtime {

at::Device select_device(DeviceChoice choice, int local_rank, int visible_gpus) {
  if (choice == DeviceChoice::kCpu || (choice == DeviceChoice::kAuto && visible_gpus == 0)) return at::kCPU;
  if (visible_gpus == 0) {
    throw_input_error("run.device",
                      "cuda requested but LibTorch sees no CUDA device (`missrec version` "
                      "says whether this LibTorch is a CUDA build and what it sees)");
  }
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank % visible_gpus));
}

at::Device select_device(DeviceChoice choice, const MpiWorld& world) {
  return select_device(choice, world.local_rank(), static_cast<int>(torch::cuda::device_count()));
}

}  // namespace missrec::runtime
