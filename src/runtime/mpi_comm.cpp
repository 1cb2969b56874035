#include "runtime/mpi_comm.h"

#include <glog/logging.h>

#include <climits>
#include <numeric>

#include "runtime/mpi_check.h"

namespace missrec::runtime {

namespace {

MPI_Datatype mpi_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kLong:
      return MPI_INT64_T;
    case at::kInt:
      return MPI_INT32_T;
    case at::kByte:
      return MPI_UINT8_T;
    case at::kChar:
      return MPI_INT8_T;
    default:
      LOG(FATAL) << "MPI backend: no MPI reduction type for " << at::toString(type);
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_OP_NULL;
}

// Half types have no MPI reduction: reduce them in float32 and cast back.
bool needs_widening(at::ScalarType type) { return type == at::kHalf || type == at::kBFloat16; }

int checked_count(int64_t count, const char* operation) {
  CHECK_LE(count, static_cast<int64_t>(INT_MAX)) << operation << ": " << count << " elements exceed one MPI call";
  return static_cast<int>(count);
}

// A pinned host copy of a GPU tensor, so the device-to-host copy runs at full speed.
at::Tensor to_host(const at::Tensor& tensor) {
  at::Tensor host = at::empty(tensor.sizes(), tensor.options().device(at::kCPU).pinned_memory(true));
  host.copy_(tensor);
  return host;
}

int64_t row_elements(const at::Tensor& tensor) {
  int64_t elements = 1;
  for (int64_t d = 1; d < tensor.dim(); ++d) elements *= tensor.size(d);
  return elements;
}

}  // namespace

MpiCommunicator::MpiCommunicator(const MpiWorld& world, double timeout_s, at::Device device)
    : world_(world),
      timeout_s_(timeout_s),
      device_(device),
      rank_(world.rank()),
      size_(world.size()),
      census_(world),
      watch_(world.rank(), world.size(), world.host(), timeout_s, /*run_watchdog=*/true, &census_) {
  MPI_Comm dup = MPI_COMM_NULL;
  MISSREC_MPI_CHECK(MPI_Comm_dup(world.comm(), &dup));
  comm_ = MpiComm(dup);
  MISSREC_MPI_CHECK(MPI_Comm_set_errhandler(comm_.get(), MPI_ERRORS_RETURN));
}

std::unique_ptr<Communicator> MpiCommunicator::duplicate() {
  if (!world_.thread_multiple()) return nullptr;
  return std::make_unique<MpiCommunicator>(world_, timeout_s_, device_);
}

void MpiCommunicator::check_placement(const at::Tensor& tensor, const char* operation) const {
  CHECK(tensor.device() == device_) << operation << ": the tensor is on " << tensor.device() << ", the run's device is "
                                    << device_;
  CHECK(tensor.is_contiguous()) << operation << ": tensor must be contiguous";
}

void MpiCommunicator::allreduce(at::Tensor& tensor, ReduceOp op) {
  check_placement(tensor, "allreduce");
  if (tensor.is_cpu()) {
    allreduce_host(tensor, op);
    return;
  }
  at::Tensor host = to_host(tensor);
  allreduce_host(host, op);
  tensor.copy_(host);
}

at::Tensor MpiCommunicator::allgather(const at::Tensor& tensor) {
  check_placement(tensor, "allgather");
  return tensor.is_cpu() ? allgather_host(tensor) : allgather_host(to_host(tensor)).to(device_);
}

at::Tensor MpiCommunicator::allgather_variable(const at::Tensor& tensor, std::vector<int64_t>* row_counts) {
  check_placement(tensor, "allgather_variable");
  return tensor.is_cpu() ? allgather_variable_host(tensor, row_counts)
                         : allgather_variable_host(to_host(tensor), row_counts).to(device_);
}

at::Tensor MpiCommunicator::alltoallv(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                                      std::vector<int64_t>* recv_rows) {
  check_placement(send, "alltoallv");
  return send.is_cpu() ? alltoallv_host(send, send_rows, recv_rows)
                       : alltoallv_host(to_host(send), send_rows, recv_rows).to(device_);
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  check_placement(tensor, "broadcast");
  if (tensor.is_cpu()) {
    broadcast_host(tensor, root);
    return;
  }
  at::Tensor host = to_host(tensor);
  broadcast_host(host, root);
  tensor.copy_(host);
}

at::Tensor MpiCommunicator::reduce_scatter(const at::Tensor& tensor, ReduceOp op) {
  check_placement(tensor, "reduce_scatter");
  return tensor.is_cpu() ? reduce_scatter_host(tensor, op) : reduce_scatter_host(to_host(tensor), op).to(device_);
}

void MpiCommunicator::allreduce_host(at::Tensor& tensor, ReduceOp op) {
  if (needs_widening(tensor.scalar_type())) {
    at::Tensor wide = tensor.to(at::kFloat);
    allreduce_host(wide, op);
    tensor.copy_(wide);
    return;
  }
  const auto in_flight = watch_.begin("allreduce", tensor.nbytes());
  MISSREC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), checked_count(tensor.numel(), "allreduce"),
                                  mpi_type(tensor.scalar_type()), mpi_op(op), comm_.get()));
}

at::Tensor MpiCommunicator::allgather_host(const at::Tensor& tensor) {
  std::vector<int64_t> shape = tensor.sizes().vec();
  if (shape.empty()) shape.push_back(1);
  shape[0] *= size_;
  at::Tensor out = at::empty(shape, tensor.options());
  const int bytes = checked_count(tensor.nbytes(), "allgather");
  const auto in_flight = watch_.begin("allgather", out.nbytes());
  MISSREC_MPI_CHECK(MPI_Allgather(tensor.data_ptr(), bytes, MPI_BYTE, out.data_ptr(), bytes, MPI_BYTE, comm_.get()));
  return out;
}

std::vector<int64_t> MpiCommunicator::allgather_counts(int64_t count) {
  std::vector<int64_t> counts(size_);
  const auto in_flight = watch_.begin("allgather(counts)", sizeof(int64_t) * size_);
  MISSREC_MPI_CHECK(MPI_Allgather(&count, 1, MPI_INT64_T, counts.data(), 1, MPI_INT64_T, comm_.get()));
  return counts;
}

at::Tensor MpiCommunicator::allgather_variable_host(const at::Tensor& tensor, std::vector<int64_t>* row_counts) {
  CHECK_GE(tensor.dim(), 1) << "allgather_variable needs a tensor with a row dimension";
  std::vector<int64_t> rows = allgather_counts(tensor.size(0));
  const int64_t row_bytes = row_elements(tensor) * tensor.element_size();
  std::vector<int> byte_counts(size_);
  std::vector<int> displacements(size_);
  int64_t total_rows = 0;
  for (int r = 0; r < size_; ++r) {
    byte_counts[r] = checked_count(rows[r] * row_bytes, "allgather_variable");
    displacements[r] = checked_count(total_rows * row_bytes, "allgather_variable");
    total_rows += rows[r];
  }
  std::vector<int64_t> shape = tensor.sizes().vec();
  shape[0] = total_rows;
  at::Tensor out = at::empty(shape, tensor.options());
  {
    const auto in_flight = watch_.begin("allgather_variable", out.nbytes());
    MISSREC_MPI_CHECK(MPI_Allgatherv(tensor.data_ptr(), byte_counts[rank_], MPI_BYTE, out.data_ptr(),
                                     byte_counts.data(), displacements.data(), MPI_BYTE, comm_.get()));
  }
  if (row_counts != nullptr) *row_counts = std::move(rows);
  return out;
}

std::vector<int64_t> MpiCommunicator::alltoall_counts(const std::vector<int64_t>& counts) {
  CHECK_EQ(static_cast<int64_t>(counts.size()), size_) << "alltoall: one count per rank";
  std::vector<int64_t> received(size_);
  const auto in_flight = watch_.begin("alltoall(counts)", sizeof(int64_t) * size_);
  MISSREC_MPI_CHECK(MPI_Alltoall(counts.data(), 1, MPI_INT64_T, received.data(), 1, MPI_INT64_T, comm_.get()));
  return received;
}

at::Tensor MpiCommunicator::alltoallv_host(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                                           std::vector<int64_t>* recv_rows) {
  CHECK_GE(send.dim(), 1) << "alltoallv needs a tensor with a row dimension";
  int64_t total_send = 0;
  for (int64_t rows : send_rows) total_send += rows;
  CHECK_EQ(total_send, send.size(0)) << "alltoallv: send_rows do not add up to the rows sent";
  std::vector<int64_t> rows = alltoall_counts(send_rows);
  const int64_t row_bytes = row_elements(send) * send.element_size();
  std::vector<int> send_bytes(size_), send_at(size_), recv_bytes(size_), recv_at(size_);
  int64_t sent = 0;
  int64_t total_recv = 0;
  for (int r = 0; r < size_; ++r) {
    send_bytes[r] = checked_count(send_rows[r] * row_bytes, "alltoallv");
    send_at[r] = checked_count(sent * row_bytes, "alltoallv");
    recv_bytes[r] = checked_count(rows[r] * row_bytes, "alltoallv");
    recv_at[r] = checked_count(total_recv * row_bytes, "alltoallv");
    sent += send_rows[r];
    total_recv += rows[r];
  }
  std::vector<int64_t> shape = send.sizes().vec();
  shape[0] = total_recv;
  at::Tensor out = at::empty(shape, send.options());
  {
    const auto in_flight = watch_.begin("alltoallv", send.nbytes() + out.nbytes());
    MISSREC_MPI_CHECK(MPI_Alltoallv(send.data_ptr(), send_bytes.data(), send_at.data(), MPI_BYTE, out.data_ptr(),
                                    recv_bytes.data(), recv_at.data(), MPI_BYTE, comm_.get()));
  }
  if (recv_rows != nullptr) *recv_rows = std::move(rows);
  return out;
}

void MpiCommunicator::broadcast_host(at::Tensor& tensor, int root) {
  CHECK(root >= 0 && root < size_) << "broadcast root " << root << " outside [0, " << size_ << ")";
  const auto in_flight = watch_.begin("broadcast", tensor.nbytes());
  MISSREC_MPI_CHECK(
      MPI_Bcast(tensor.data_ptr(), checked_count(tensor.nbytes(), "broadcast"), MPI_BYTE, root, comm_.get()));
}

at::Tensor MpiCommunicator::reduce_scatter_host(const at::Tensor& tensor, ReduceOp op) {
  CHECK_GE(tensor.dim(), 1);
  CHECK_EQ(tensor.size(0) % size_, 0) << "reduce_scatter: " << tensor.size(0) << " rows do not split over " << size_
                                      << " ranks";
  if (needs_widening(tensor.scalar_type())) {
    return reduce_scatter_host(tensor.to(at::kFloat), op).to(tensor.scalar_type());
  }
  std::vector<int64_t> shape = tensor.sizes().vec();
  shape[0] /= size_;
  at::Tensor out = at::empty(shape, tensor.options());
  const auto in_flight = watch_.begin("reduce_scatter", tensor.nbytes());
  MISSREC_MPI_CHECK(MPI_Reduce_scatter_block(tensor.data_ptr(), out.data_ptr(),
                                             checked_count(out.numel(), "reduce_scatter"),
                                             mpi_type(tensor.scalar_type()), mpi_op(op), comm_.get()));
  return out;
}

void MpiCommunicator::barrier() {
  const auto in_flight = watch_.begin("barrier", 0);
  MISSREC_MPI_CHECK(MPI_Barrier(comm_.get()));
}

}  // namespace missrec::runtime
