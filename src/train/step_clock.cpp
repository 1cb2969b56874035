#include "train/step_clock.h"

#include <glog/logging.h>

#include <vector>

#include "build_info.h"

#if MISSREC_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#endif

namespace missrec::train {

#if MISSREC_TORCH_CUDA
struct StepClock::Events {
  // Two sets, alternating by step: marks[s][0] starts step s, marks[s][p + 1] ends phase p.
  std::vector<at::cuda::CUDAEvent> marks[2];
  int current = 1;
  bool previous_complete = false;  // whether the other set holds a whole step
  Events() {
    for (auto& set : marks) {
      for (int i = 0; i <= kPhases; ++i) set.emplace_back(cudaEventDefault);  // timing enabled
    }
  }
};
#else
struct StepClock::Events {};
#endif

StepClock::StepClock(at::Device device) : device_(device) {
#if MISSREC_TORCH_CUDA
  if (device_.is_cuda()) events_ = std::make_unique<Events>();
#else
  CHECK(!device_.is_cuda()) << "a CUDA device with a LibTorch built without CUDA";
#endif
}

StepClock::~StepClock() = default;

void StepClock::start() {
#if MISSREC_TORCH_CUDA
  if (events_) {
    events_->current ^= 1;
    events_->marks[events_->current][0].record();
    return;
  }
#endif
  clock_.lap();
}

void StepClock::mark(Phase phase) {
#if MISSREC_TORCH_CUDA
  if (events_) {
    events_->marks[events_->current][phase + 1].record();
    return;
  }
#endif
  seconds_[phase] = clock_.lap();
}

StepTimes StepClock::read() {
  double seconds[kPhases];
  for (int phase = 0; phase < kPhases; ++phase) seconds[phase] = seconds_[phase];
#if MISSREC_TORCH_CUDA
  if (events_) {
    const auto gap = [](const std::vector<at::cuda::CUDAEvent>& set, int phase) {
      return set[phase].elapsed_time(set[phase + 1]) / 1000.0;
    };
    const auto& now = events_->marks[events_->current];
    for (int phase = kForward; phase < kOptimizer; ++phase) seconds[phase] = gap(now, phase);
    seconds[kOptimizer] = events_->previous_complete ? gap(events_->marks[events_->current ^ 1], kOptimizer) : 0.0;
    events_->previous_complete = true;
  }
#endif
  StepTimes times;
  times.forward = seconds[kForward];
  times.backward = seconds[kBackward];
  times.comm = seconds[kComm];
  times.optimizer = seconds[kOptimizer];
  return times;
}

}  // namespace missrec::train
