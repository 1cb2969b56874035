#pragma once

namespace missrec::model {

// While one lives on a thread, the model's CPU kernels (the oneDNN linear layers, the
// packed attention kernel, the fused similarity) step aside for LibTorch operators on
// that thread: the path other devices take, which tests run on the CPU to cover it.
class TensorOpsOnly {
 public:
  TensorOpsOnly();
  ~TensorOpsOnly();
  TensorOpsOnly(const TensorOpsOnly&) = delete;
  TensorOpsOnly& operator=(const TensorOpsOnly&) = delete;

  static bool active();

 private:
  bool previous_;
};

}  // namespace missrec::model
