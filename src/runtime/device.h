#pragma once

#include <ATen/ATen.h>

#include "runtime/config.h"

namespace missrec::runtime {

class MpiWorld;

// The device a rank computes on, from run.device: cpu; cuda (an error when LibTorch
// sees no CUDA device); auto (a GPU when one is visible, else the CPU). A rank takes
// GPU local_rank mod visible GPUs, so one GPU per task (Slurm's --gpus-per-task=1, where
// every task sees its own GPU as device 0) and one GPU per rank both work.
at::Device select_device(DeviceChoice choice, const MpiWorld& world);

// The same, from the rank's position on its host and the GPUs it sees (for tests).
at::Device select_device(DeviceChoice choice, int local_rank, int visible_gpus);

}  // namespace missrec::runtime
