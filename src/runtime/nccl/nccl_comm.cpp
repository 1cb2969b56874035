// NCCL backend: CUDA tensors, its own stream ordered after LibTorch's compute stream
// with events, a watchdog thread that enforces dist.timeout_s and polls NCCL's async
// errors without blocking the host after each collective.
#include "runtime/nccl/nccl_comm.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "build_info.h"
#include "runtime/abort.h"
#include "runtime/error.h"
#include "runtime/mpi_check.h"
#include "runtime/mpi_comm.h"
#include "runtime/nccl/cuda_handles.h"

#if MISSREC_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace missrec::runtime {

bool nccl_backend_built() { return true; }

std::string nccl_version_string() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
}

namespace {

// Bytes per row (dim 0) of `tensor`.
int64_t row_bytes_of(const at::Tensor& tensor) {
  int64_t bytes = tensor.element_size();
  for (int64_t d = 1; d < tensor.dim(); ++d) bytes *= tensor.size(d);
  return bytes;
}

// An empty tensor like `like` with the row counts' sum as its rows.
at::Tensor rows_like(const at::Tensor& like, const std::vector<int64_t>& rows) {
  std::vector<int64_t> shape = like.sizes().vec();
  shape[0] = 0;
  for (int64_t r : rows) shape[0] += r;
  return at::empty(shape, like.options());
}

ncclDataType_t nccl_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kLong:
      return ncclInt64;
    case at::kInt:
      return ncclInt32;
    case at::kByte:
      return ncclUint8;
    case at::kChar:
      return ncclInt8;
    default:
      LOG(FATAL) << "NCCL backend: unsupported dtype " << at::toString(type);
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

bool in_progress(ncclResult_t state) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
  return state == ncclInProgress;
#else
  (void)state;
  return false;
#endif
}

cudaStream_t compute_stream(int device_index) {
#if MISSREC_TORCH_CUDA
  return c10::cuda::getCurrentCUDAStream(device_index).stream();
#else
  (void)device_index;
  return cudaStreamLegacy;
#endif
}

// Tracks in-flight collectives in issue order; aborts the job on timeout or NCCL error.
class Watchdog {
 public:
  Watchdog(int device_index, const CollectiveWatch& watch, NcclComm& comm)
      : device_index_(device_index), watch_(watch), comm_(comm), thread_([this] { loop(); }) {}

  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void track(CudaEvent done, const char* operation, uint64_t sequence, int64_t bytes) {
    // Called by the issuing thread only; the watchdog thread never blocks it for long.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.push_back(Pending{std::move(done), operation, sequence, bytes, std::chrono::steady_clock::now()});
    }
    changed_.notify_all();
  }

  void wait_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return pending_.empty(); });
  }

 private:
  struct Pending {
    CudaEvent done;
    const char* operation;
    uint64_t sequence;
    int64_t bytes;
    std::chrono::steady_clock::time_point issued;
  };

  void loop() {
    cudaSetDevice(device_index_);
    using Clock = std::chrono::steady_clock;
    const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(watch_.timeout_s()));
    // A collective's clock starts when it reaches the front of the queue, so time spent
    // behind earlier collectives is not counted against it.
    Clock::time_point front_since = Clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      changed_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      // The deque keeps references stable across push_back and only this thread pops,
      // so the front can be inspected without holding the lock.
      Pending& front = pending_.front();
      front_since = std::max(front_since, front.issued);
      lock.unlock();
      const cudaError_t state = cudaEventQuery(front.done.get());
      if (state == cudaErrorNotReady) {
        check_health(front, front_since, timeout);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        lock.lock();
        continue;
      }
      if (state != cudaSuccess) {
        detail::cuda_call_failed(state, "cudaEventQuery(collective done)", __FILE__, __LINE__);
      }
      lock.lock();
      pending_.pop_front();
      front_since = Clock::now();
      if (pending_.empty()) idle_.notify_all();
    }
  }

  // Ends the job on an NCCL async error or an expired timeout: the message first (so it
  // is never lost), then the NCCL comm is aborted, then every rank via MPI_Abort.
  void check_health(const Pending& front, std::chrono::steady_clock::time_point since,
                    std::chrono::steady_clock::duration timeout) {
    ncclResult_t async_error = ncclSuccess;
    ncclCommGetAsyncError(comm_.get(), &async_error);
    if (async_error != ncclSuccess && !in_progress(async_error)) {
      LOG(ERROR) << "fatal: NCCL error in " << front.operation << " #" << front.sequence << " on rank " << watch_.rank()
                 << " (" << watch_.host() << "): " << ncclGetErrorString(async_error) << "; aborting the job";
      ncclCommAbort(comm_.get());
      abort_job(1);
    }
    if (std::chrono::steady_clock::now() - since > timeout) {
      watch_.log_timeout(front.operation, front.sequence, front.bytes);
      ncclCommAbort(comm_.get());
      abort_job(1);
    }
  }

  int device_index_;
  const CollectiveWatch& watch_;
  NcclComm& comm_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable idle_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const MpiWorld& world, double timeout_s, at::Device device)
      : host_(world, timeout_s),
        rank_(world.rank()),
        size_(world.size()),
        watch_(world.rank(), world.size(), world.host(), timeout_s, /*run_watchdog=*/false) {
    CHECK(device.is_cuda() && device.has_index()) << "NCCL backend on " << device;
    device_index_ = device.index();
    MISSREC_CUDA_CHECK(cudaSetDevice(device_index_));
    refuse_shared_gpus(world);
    ncclUniqueId id;
    if (rank_ == 0) MISSREC_NCCL_CHECK(ncclGetUniqueId(&id));
    at::Tensor id_bytes = at::empty({static_cast<int64_t>(sizeof(id))}, at::kByte);
    std::memcpy(id_bytes.data_ptr(), &id, sizeof(id));
    host_.broadcast(id_bytes, 0);
    std::memcpy(&id, id_bytes.data_ptr(), sizeof(id));
    ncclComm_t comm = nullptr;
    MISSREC_NCCL_CHECK(ncclCommInitRank(&comm, size_, id, rank_));
    comm_ = NcclComm(comm);
    stream_ = CudaStream::create_non_blocking();
    watchdog_ = std::make_unique<Watchdog>(device_index_, watch_, comm_);
  }

  ~NcclCommunicator() override {
    watchdog_.reset();  // joins the thread before the comm and stream go away
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend_name() const override { return "nccl"; }
  at::Device device() const override { return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_index_)); }

  void allreduce(at::Tensor& tensor, ReduceOp op) override {
    check_device(tensor, "allreduce");
    mark_used_by_comm_stream(tensor);
    run("allreduce", tensor.nbytes(), [&](cudaStream_t stream) {
      return ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), nccl_type(tensor.scalar_type()),
                           nccl_op(op), comm_.get(), stream);
    });
  }

  at::Tensor allgather(const at::Tensor& tensor) override {
    check_device(tensor, "allgather");
    std::vector<int64_t> shape = tensor.sizes().vec();
    if (shape.empty()) shape.push_back(1);
    shape[0] *= size_;
    at::Tensor out = at::empty(shape, tensor.options());
    mark_used_by_comm_stream(tensor);
    mark_used_by_comm_stream(out);
    run("allgather", out.nbytes(), [&](cudaStream_t stream) {
      return ncclAllGather(tensor.data_ptr(), out.data_ptr(), tensor.nbytes(), ncclUint8, comm_.get(), stream);
    });
    return out;
  }

  at::Tensor allgather_variable(const at::Tensor& tensor, std::vector<int64_t>* row_counts) override {
    check_device(tensor, "allgather_variable");
    CHECK_GE(tensor.dim(), 1);
    // Sizes are host values: exchange them over MPI, then one NCCL broadcast per rank
    // inside a group (NCCL has no allgatherv).
    std::vector<int64_t> rows = host_.allgather_counts(tensor.size(0));
    const int64_t row_bytes = row_bytes_of(tensor);
    at::Tensor out = rows_like(tensor, rows);
    auto* out_bytes = static_cast<uint8_t*>(out.data_ptr());
    if (tensor.numel() > 0) mark_used_by_comm_stream(tensor);
    if (out.numel() > 0) mark_used_by_comm_stream(out);
    run("allgather_variable", out.nbytes(), [&](cudaStream_t stream) {
      ncclResult_t rc = ncclGroupStart();
      if (rc != ncclSuccess) return rc;
      int64_t offset = 0;
      for (int r = 0; r < size_; ++r) {
        const size_t bytes = static_cast<size_t>(rows[r] * row_bytes);
        if (bytes > 0) {
          rc = ncclBroadcast(r == rank_ ? tensor.data_ptr() : nullptr, out_bytes + offset, bytes, ncclUint8, r,
                             comm_.get(), stream);
          if (rc != ncclSuccess) return rc;
        }
        offset += rows[r] * row_bytes;
      }
      return ncclGroupEnd();
    });
    if (row_counts != nullptr) *row_counts = std::move(rows);
    return out;
  }

  at::Tensor alltoallv(const at::Tensor& send, const std::vector<int64_t>& send_rows,
                       std::vector<int64_t>* recv_rows) override {
    check_device(send, "alltoallv");
    CHECK_GE(send.dim(), 1);
    // Counts are host values: exchanged over MPI, then one send and one receive per peer
    // inside a group (NCCL has no alltoallv).
    std::vector<int64_t> rows = host_.alltoall_counts(send_rows);
    const int64_t row_bytes = row_bytes_of(send);
    at::Tensor out = rows_like(send, rows);
    const auto* send_bytes = static_cast<const uint8_t*>(send.data_ptr());
    auto* out_bytes = static_cast<uint8_t*>(out.data_ptr());
    if (send.numel() > 0) mark_used_by_comm_stream(send);
    if (out.numel() > 0) mark_used_by_comm_stream(out);
    run("alltoallv", send.nbytes() + out.nbytes(), [&](cudaStream_t stream) {
      ncclResult_t rc = ncclGroupStart();
      if (rc != ncclSuccess) return rc;
      int64_t sent = 0;
      int64_t received = 0;
      for (int r = 0; r < size_; ++r) {
        if (send_rows[r] > 0) {
          rc = ncclSend(send_bytes + sent * row_bytes, static_cast<size_t>(send_rows[r] * row_bytes), ncclUint8, r,
                        comm_.get(), stream);
          if (rc != ncclSuccess) return rc;
        }
        if (rows[r] > 0) {
          rc = ncclRecv(out_bytes + received * row_bytes, static_cast<size_t>(rows[r] * row_bytes), ncclUint8, r,
                        comm_.get(), stream);
          if (rc != ncclSuccess) return rc;
        }
        sent += send_rows[r];
        received += rows[r];
      }
      return ncclGroupEnd();
    });
    if (recv_rows != nullptr) *recv_rows = std::move(rows);
    return out;
  }

  void broadcast(at::Tensor& tensor, int root) override {
    check_device(tensor, "broadcast");
    CHECK(root >= 0 && root < size_);
    mark_used_by_comm_stream(tensor);
    run("broadcast", tensor.nbytes(), [&](cudaStream_t stream) {
      return ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.nbytes(), ncclUint8, root, comm_.get(), stream);
    });
  }

  at::Tensor reduce_scatter(const at::Tensor& tensor, ReduceOp op) override {
    check_device(tensor, "reduce_scatter");
    CHECK_GE(tensor.dim(), 1);
    CHECK_EQ(tensor.size(0) % size_, 0);
    std::vector<int64_t> shape = tensor.sizes().vec();
    shape[0] /= size_;
    at::Tensor out = at::empty(shape, tensor.options());
    mark_used_by_comm_stream(tensor);
    mark_used_by_comm_stream(out);
    run("reduce_scatter", tensor.nbytes(), [&](cudaStream_t stream) {
      return ncclReduceScatter(tensor.data_ptr(), out.data_ptr(), out.numel(), nccl_type(tensor.scalar_type()),
                               nccl_op(op), comm_.get(), stream);
    });
    return out;
  }

  void barrier() override {
    at::Tensor token = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device()));
    allreduce(token, ReduceOp::kSum);
    synchronize();
  }

  void synchronize() override { watchdog_->wait_idle(); }

 private:
  // NCCL cannot put two ranks on one GPU. Ranks compare (host, PCI bus id) rather than
  // device indices: under --gpus-per-task=1 every task's GPU is its device 0.
  void refuse_shared_gpus(const MpiWorld& world) {
    constexpr int64_t kKeyBytes = 256;
    char bus_id[64] = {};
    MISSREC_CUDA_CHECK(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device_index_));
    const std::string key = world.host() + " GPU " + bus_id;
    at::Tensor mine = at::zeros({1, kKeyBytes}, at::kByte);
    std::memcpy(mine.data_ptr(), key.data(), std::min<size_t>(key.size(), kKeyBytes - 1));
    const at::Tensor all = host_.allgather(mine);  // [size, kKeyBytes]
    const auto key_of = [&](int rank) { return std::string(static_cast<const char*>(all[rank].data_ptr())); };
    for (int other = 0; other < size_; ++other) {
      if (other != rank_ && key_of(other) == key) {
        throw_input_error("launch", "ranks " + std::to_string(std::min(rank_, other)) + " and " +
                                        std::to_string(std::max(rank_, other)) + " share " + key +
                                        "; NCCL needs one GPU per rank (start fewer ranks per host, or "
                                        "use dist.backend=mpi to share a GPU)");
      }
    }
  }

  void check_device(const at::Tensor& tensor, const char* operation) const {
    CHECK(tensor.is_cuda() && tensor.get_device() == device_index_)
        << operation << ": NCCL backend needs tensors on cuda:" << device_index_ << ", got " << tensor.device();
    CHECK(tensor.is_contiguous()) << operation << ": tensor must be contiguous";
  }

  // Keeps the caching allocator from reusing a tensor's memory for work on another
  // stream while NCCL still reads or writes it.
  void mark_used_by_comm_stream(const at::Tensor& tensor) const {
#if MISSREC_TORCH_CUDA
    c10::cuda::CUDACachingAllocator::recordStream(
        tensor.storage().data_ptr(),
        c10::cuda::getStreamFromExternal(stream_.get(), static_cast<c10::DeviceIndex>(device_index_)));
#else
    (void)tensor;
#endif
  }

  template <class Launch>
  void run(const char* operation, int64_t bytes, Launch&& launch) {
    MISSREC_CUDA_CHECK(cudaSetDevice(device_index_));  // callers may sit on another device
    const uint64_t seq = watch_.next();
    const cudaStream_t compute = compute_stream(device_index_);
    CudaEvent ready = CudaEvent::create();
    MISSREC_CUDA_CHECK(cudaEventRecord(ready.get(), compute));
    MISSREC_CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), ready.get(), 0));
    MISSREC_NCCL_CHECK(launch(stream_.get()));
    CudaEvent done = CudaEvent::create();
    MISSREC_CUDA_CHECK(cudaEventRecord(done.get(), stream_.get()));
    // Later compute waits for the result; the host does not.
    MISSREC_CUDA_CHECK(cudaStreamWaitEvent(compute, done.get(), 0));
    watchdog_->track(std::move(done), operation, seq, bytes);
  }

  MpiCommunicator host_;
  int rank_;
  int size_;
  int device_index_ = 0;
  CollectiveWatch watch_;
  NcclComm comm_;
  CudaStream stream_;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const MpiWorld& world, double timeout_s, at::Device device) {
  return std::make_unique<NcclCommunicator>(world, timeout_s, device);
}

}  // namespace missrec::runtime
