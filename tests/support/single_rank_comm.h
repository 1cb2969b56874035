#pragma once

#include <vector>

#include "runtime/comm.h"

namespace missrec::testing {

// The communicator of a job of one rank, in process: every collective is the identity
// its contract gives for size 1. Tests run an algorithm on the world and on this, in one
// job, to show that P ranks compute what one rank computes.
class SingleRankCommunicator final : public runtime::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend_name() const override { return "single"; }
  at::Device device() const override { return at::kCPU; }
  void allreduce(at::Tensor& /*tensor*/, runtime::ReduceOp /*op*/) override {}
  at::Tensor allgather(const at::Tensor& tensor) override { return tensor.clone(); }
  at::Tensor allgather_variable(const at::Tensor& tensor, std::vector<int64_t>* row_counts = nullptr) override {
    if (row_counts != nullptr) *row_counts = {tensor.size(0)};
    return tensor.clone();
  }
  at::Tensor alltoallv(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                       std::vector<int64_t>* recv_rows = nullptr) override {
    if (recv_rows != nullptr) *recv_rows = send_rows;
    return send.clone();
  }
  void broadcast(at::Tensor& /*tensor*/, int /*root*/) override {}
  at::Tensor reduce_scatter(const at::Tensor& tensor, runtime::ReduceOp /*op*/) override { return tensor.clone(); }
  void barrier() override {}
  void synchronize() override {}
};

}  // namespace missrec::testing
