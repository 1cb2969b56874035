#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// The trainable parameters of a module in a fixed order (named_parameters order, frozen
// ones left out) and their training state in flat float32 buffers on the parameters'
// device: each parameter's value is a view of values() and its .grad() a view of
// gradients(), at the parameter's offset. The gradient buffer continues with
// `reduced_scalars` slots for the values a step sums over the ranks together with the
// gradients (one collective). Backward accumulates into the gradient views in place, so
// a step calls zero_gradients() first and the allreduce and the optimizer work on the
// flat buffers; nothing may replace a parameter's .grad() (GradientSync checks
// gradients_bound() before each allreduce).
// Build it after the model is on its device and before the first backward.
class ParameterSet {
 public:
  explicit ParameterSet(torch::nn::Module& module, int64_t reduced_scalars = 0);

  struct Entry {
    std::string name;
    torch::Tensor tensor;
    int64_t offset = 0;
  };
  const std::vector<Entry>& entries() const { return entries_; }
  int64_t numel() const { return numel_; }

  const torch::Tensor& values() const { return values_; }        // [numel]
  const torch::Tensor& gradients() const { return gradients_; }  // [numel], a view of reduced_buffer()
  // [numel + reduced_scalars]: the gradients, then the step's summed scalars.
  const torch::Tensor& reduced_buffer() const { return reduced_; }
  int64_t reduced_scalars() const { return reduced_.numel() - numel_; }

  void zero_gradients() const;
  // True while every parameter's .grad() is still its view of gradients().
  bool gradients_bound() const;

 private:
  std::vector<Entry> entries_;
  int64_t numel_ = 0;
  torch::Tensor values_;
  torch::Tensor reduced_;
  torch::Tensor gradients_;
};

// Every parameter and buffer of `module` from rank `root` (rank 0's initial
// parameters), in one broadcast of a flat buffer.
void broadcast_module(torch::nn::Module& module, runtime::Communicator& comm, int root);

// Order-sensitive digest of every parameter, equal on ranks that hold equal values.
double module_checksum(torch::nn::Module& module);

// Compares the digest across ranks; a difference is a broken invariant and aborts
// naming the ranks.
void verify_same_on_all_ranks(double checksum, const std::string& what, runtime::Communicator& comm);

}  // namespace missrec::train
