#pragma once

#include <torch/torch.h>

namespace missrec::model {

// The fusion of a sample's text and image similarities to an item, weighted by a
// softmax over the two with the learned factor f: softmax(f·(a, c)) · (a, c), computed
// as c + sigmoid(f·(a − c))·(a − c) (the same function; a softmax over a last dimension
// of 2 is slow on the CPU). On float32 CPU tensors one pass forward and one backward,
// where LibTorch's operators make about ten passes over the [B, B] similarities each way
// (docs/performance.md has the cost); elsewhere LibTorch's operators.
// a and c [rows, items], factor a 0-d tensor. The factor's gradient is summed in fixed
// blocks, so it does not depend on the thread count.
torch::Tensor fuse_similarities(const torch::Tensor& a, const torch::Tensor& c, const torch::Tensor& factor);

}  // namespace missrec::model
