#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/config.h"

namespace missrec::runtime {

class MpiWorld;

enum class ReduceOp { kSum, kMax, kMin };

const char* reduce_op_name(ReduceOp op);

// Collectives over the ranks of the job, on tensors of the run's device (device():
// what select_device chose; MPI stages GPU tensors through pinned host memory, NCCL
// takes them as they are). Every collective is numbered; one that has not
// completed after the configured timeout aborts the whole job with a message naming
// the operation, its number and the reporting rank. Tensors must be contiguous.
// The backend is chosen by which .cpp CMake builds; callers see only this interface.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend_name() const = 0;
  virtual at::Device device() const = 0;

  // In place; float32, float64, float16, int32, int64.
  virtual void allreduce(at::Tensor& tensor, ReduceOp op) = 0;
  // Every rank gives the same shape [n, ...]; returns [size * n, ...] in rank order.
  virtual at::Tensor allgather(const at::Tensor& tensor) = 0;
  // Ranks give [n_r, ...] with equal trailing dims; returns the concatenation in rank
  // order and, when row_counts is given, each rank's n_r.
  virtual at::Tensor allgather_variable(const at::Tensor& tensor, std::vector<int64_t>* row_counts = nullptr) = 0;
  // Rows [sum of send_rows, ...] grouped by destination, send_rows[r] of them for rank r
  // (send_rows.size() == size()); returns the rows every rank sent this one, in source
  // rank order, and, when recv_rows is given, how many came from each rank. Trailing
  // dims and dtype equal on every rank.
  virtual at::Tensor alltoallv(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                               std::vector<int64_t>* recv_rows = nullptr) = 0;
  // In place; every rank passes a tensor of the same shape.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  // Input [size * n, ...] on every rank; returns the reduced block [n, ...] of this rank.
  virtual at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op) = 0;
  virtual void barrier() = 0;
  // Waits until every collective issued so far has completed (timing, shutdown).
  virtual void synchronize() = 0;
  // A communicator of its own over the same ranks and device, whose collectives may run
  // on another thread at the same time as this one's; null where the backend cannot run
  // two threads of collectives at once. Collective: every rank calls it.
  virtual std::unique_ptr<Communicator> duplicate() { return nullptr; }
};

// Builds the communicator named by dist.backend for tensors on `device`: mpi, nccl
// (a GPU device only) or auto (NCCL when it is built and the device is a GPU, MPI
// otherwise). Throws InputError for a backend this build or device cannot provide.
std::unique_ptr<Communicator> make_communicator(BackendChoice backend, const MpiWorld& world, double timeout_s,
                                                at::Device device);

// Whether this build has the NCCL backend, and its library version ("" when not built).
bool nccl_backend_built();
std::string nccl_version_string();

}  // namespace missrec::runtime
