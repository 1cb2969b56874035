#pragma once

#include "runtime/collective_watch.h"
#include "runtime/comm.h"
#include "runtime/mpi_world.h"
#include "runtime/peer_census.h"

namespace missrec::runtime {

// Communicator over MPI. Collectives are the library's blocking calls, watched by
// CollectiveWatch, so a missing peer ends in a timeout abort, not a hang. On a GPU
// device, tensors are staged through pinned host memory (no CUDA-aware MPI assumed).
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const MpiWorld& world, double timeout_s, at::Device device = at::kCPU);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "mpi"; }
  at::Device device() const override { return device_; }

  void allreduce(at::Tensor& tensor, ReduceOp op) override;
  at::Tensor allgather(const at::Tensor& tensor) override;
  at::Tensor allgather_variable(const at::Tensor& tensor, std::vector<int64_t>* row_counts = nullptr) override;
  at::Tensor alltoallv(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                       std::vector<int64_t>* recv_rows = nullptr) override;
  void broadcast(at::Tensor& tensor, int root) override;
  at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op) override;
  void barrier() override;
  void synchronize() override {}
  // Null when the MPI library does not provide MPI_THREAD_MULTIPLE.
  std::unique_ptr<Communicator> duplicate() override;

  // Host-side exchange of one int64 per rank (used for sizes by both backends).
  std::vector<int64_t> allgather_counts(int64_t count);
  // Host-side exchange of one int64 per pair of ranks: counts[r] goes to rank r; returns
  // what each rank sent this one.
  std::vector<int64_t> alltoall_counts(const std::vector<int64_t>& counts);

 private:
  // The collectives on host tensors.
  void allreduce_host(at::Tensor& tensor, ReduceOp op);
  at::Tensor allgather_host(const at::Tensor& tensor);
  at::Tensor allgather_variable_host(const at::Tensor& tensor, std::vector<int64_t>* row_counts);
  at::Tensor alltoallv_host(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                            std::vector<int64_t>* recv_rows);
  void broadcast_host(at::Tensor& tensor, int root);
  at::Tensor reduce_scatter_host(const at::Tensor& tensor, ReduceOp op);
  // Checks that `tensor` is contiguous and on the run's device.
  void check_placement(const at::Tensor& tensor, const char* operation) const;

  const MpiWorld& world_;
  double timeout_s_;
  MpiComm comm_;
  at::Device device_;
  int rank_;
  int size_;
  PeerCensus census_;  // before watch_: its watchdog serves and asks the census
  CollectiveWatch watch_;
};

}  // namespace missrec::runtime
