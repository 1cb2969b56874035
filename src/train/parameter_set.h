#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// The trainable parameters of a module in a fixed order (named_parameters order, frozen
// ones left out), with their offsets in one flat float32 vector: the layout of the
// fused gradient buffer and of the optimizer state.
class ParameterSet {
 public:
  explicit ParameterSet(torch::nn::Module& module);

  struct Entry {
    std::string name;
    torch::Tensor tensor;
    int64_t offset = 0;
  };
  const std::vector<Entry>& entries() const { return entries_; }
  int64_t numel() const { return numel_; }

 private:
  std::vector<Entry> entries_;
  int64_t numel_ = 0;
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
