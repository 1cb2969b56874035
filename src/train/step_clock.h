#pragma once

#include <ATen/ATen.h>

#include <memory>

#include "train/metrics_log.h"

namespace missrec::train {

// The forward / backward / comm / optimizer split of one step, without synchronising the
// device for it. On the CPU each mark is a wall-clock lap. On a GPU each mark records a
// CUDA event on the current stream and read(), called at the end of a step whose scalars
// were read back (the step's one host synchronisation, after the comm mark), converts
// the gaps between events that have completed: this step's forward, backward and comm,
// and the previous step's optimizer (its kernels may still run when the step returns).
class StepClock {
 public:
  explicit StepClock(at::Device device);
  ~StepClock();
  StepClock(const StepClock&) = delete;
  StepClock& operator=(const StepClock&) = delete;

  enum Phase { kForward, kBackward, kComm, kOptimizer, kPhases };

  void start();
  void mark(Phase phase);
  StepTimes read();

 private:
  struct Events;
  at::Device device_;
  Stopwatch clock_;
  double seconds_[kPhases] = {};
  std::unique_ptr<Events> events_;  // GPU only
};

}  // namespace missrec::train
