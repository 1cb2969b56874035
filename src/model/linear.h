#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

namespace missrec::model {

// y = x W^T + b, as torch's linear. For x [M, K] float32 on the CPU, when the process
// has oneDNN (Debian's LibTorch links it), the forward and backward products go to
// oneDNN's SGEMM on the intra-op threads instead of LibTorch's BLAS: at the step's
// shapes (a few thousand rows by the hidden width) OpenBLAS's threads scale poorly while
// large products reach the same rate on either (docs/performance.md). Inside a bf16
// autocast scope on the CPU (train.precision: bf16) the products are oneDNN's bf16 GEMM
// with float32 accumulation: x, W and the output gradient rounded to bf16, y and the
// gradients float32. Elsewhere (GPUs, other dtypes and shapes, no oneDNN) torch's linear,
// which autocast casts itself.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer);

// linear() of two or three layers (weight, bias) on one input, as one autograd node where
// linear() would use oneDNN: x is converted to the products' dtype once and its gradient
// accumulated by the GEMMs in one buffer (the attention's projections share their input).
std::vector<torch::Tensor> linears(const torch::Tensor& x,
                                   const std::vector<std::pair<torch::Tensor, torch::Tensor>>& layers);

}  // namespace missrec::model
