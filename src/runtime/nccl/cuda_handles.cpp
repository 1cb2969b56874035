#include "runtime/nccl/cuda_handles.h"

#include <glog/logging.h>
#include <mpi.h>

#include <utility>

#include "runtime/abort.h"
#include "runtime/mpi_world.h"

namespace missrec::runtime {

namespace detail {
namespace {
int world_rank() {
  int initialized = 0;
  int rank = -1;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}
}  // namespace

void cuda_call_failed(cudaError_t code, const char* call, const char* file, int line) {
  LOG(ERROR) << "fatal: CUDA call failed on rank " << world_rank() << " (" << host_name() << "): " << call << " at "
             << file << ':' << line << ": " << cudaGetErrorString(code);
  abort_job(1);
}

void nccl_call_failed(ncclResult_t code, const char* call, const char* file, int line) {
  LOG(ERROR) << "fatal: NCCL call failed on rank " << world_rank() << " (" << host_name() << "): " << call << " at "
             << file << ':' << line << ": " << ncclGetErrorString(code);
  abort_job(1);
}
}  // namespace detail

CudaStream CudaStream::create_non_blocking() {
  CudaStream stream;
  MISSREC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream.stream_, cudaStreamNonBlocking));
  return stream;
}

CudaStream::~CudaStream() {
  if (stream_ != nullptr) {
    const cudaError_t rc = cudaStreamDestroy(stream_);
    if (rc != cudaSuccess) LOG(WARNING) << "cudaStreamDestroy: " << cudaGetErrorString(rc);
  }
}

CudaStream::CudaStream(CudaStream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}

CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  std::swap(stream_, other.stream_);
  return *this;
}

CudaEvent CudaEvent::create() {
  CudaEvent event;
  MISSREC_CUDA_CHECK(cudaEventCreateWithFlags(&event.event_, cudaEventDisableTiming));
  return event;
}

CudaEvent::~CudaEvent() {
  if (event_ != nullptr) {
    const cudaError_t rc = cudaEventDestroy(event_);
    if (rc != cudaSuccess) LOG(WARNING) << "cudaEventDestroy: " << cudaGetErrorString(rc);
  }
}

CudaEvent::CudaEvent(CudaEvent&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}

CudaEvent& CudaEvent::operator=(CudaEvent&& other) noexcept {
  std::swap(event_, other.event_);
  return *this;
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) {
    const ncclResult_t rc = ncclCommDestroy(comm_);
    if (rc != ncclSuccess) LOG(WARNING) << "ncclCommDestroy: " << ncclGetErrorString(rc);
  }
}

NcclComm::NcclComm(NcclComm&& other) noexcept : comm_(std::exchange(other.comm_, nullptr)) {}

NcclComm& NcclComm::operator=(NcclComm&& other) noexcept {
  std::swap(comm_, other.comm_);
  return *this;
}

void NcclComm::abort() noexcept {
  if (comm_ != nullptr) {
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
}

}  // namespace missrec::runtime
