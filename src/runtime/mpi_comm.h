#pragma once

#include "runtime/collective_watch.h"
#include "runtime/comm.h"
#include "runtime/mpi_world.h"

namespace missrec::runtime {

// Communicator over MPI for CPU tensors. Collectives are the library's blocking calls,
// watched by CollectiveWatch, so a missing peer ends in a timeout abort, not a hang.
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const MpiWorld& world, double timeout_s);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "mpi"; }
  at::Device device() const override { return at::kCPU; }

  void allreduce(at::Tensor& tensor, ReduceOp op) override;
  at::Tensor allgather(const at::Tensor& tensor) override;
  at::Tensor allgather_variable(const at::Tensor& tensor,
                                std::vector<int64_t>* row_counts = nullptr) override;
  void broadcast(at::Tensor& tensor, int root) override;
  at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op) override;
  void barrier() override;
  void synchronize() override {}

  // Host-side exchange of one int64 per rank (used for sizes by both backends).
  std::vector<int64_t> allgather_counts(int64_t count);

 private:
  MpiComm comm_;
  int rank_;
  int size_;
  CollectiveWatch watch_;
};

}  // namespace missrec::runtime
