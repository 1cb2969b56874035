#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

namespace missrec::runtime::detail {

[[noreturn]] void cuda_call_failed(cudaError_t code, const char* call, const char* file, int line);
[[noreturn]] void nccl_call_failed(ncclResult_t code, const char* call, const char* file, int line);

}  // namespace missrec::runtime::detail

#define MISSREC_CUDA_CHECK(call)                                                                 \
  do {                                                                                           \
    const cudaError_t missrec_cuda_rc_ = (call);                                                 \
    if (missrec_cuda_rc_ != cudaSuccess) {                                                       \
      ::missrec::runtime::detail::cuda_call_failed(missrec_cuda_rc_, #call, __FILE__, __LINE__); \
    }                                                                                            \
  } while (0)

#define MISSREC_NCCL_CHECK(call)                                                                 \
  do {                                                                                           \
    const ncclResult_t missrec_nccl_rc_ = (call);                                                \
    if (missrec_nccl_rc_ != ncclSuccess) {                                                       \
      ::missrec::runtime::detail::nccl_call_failed(missrec_nccl_rc_, #call, __FILE__, __LINE__); \
    }                                                                                            \
  } while (0)

namespace missrec::runtime {

// Move-only owners of CUDA and NCCL handles; destructors log failures, never throw.
class CudaStream {
 public:
  CudaStream() = default;
  static CudaStream create_non_blocking();
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  CudaStream(CudaStream&& other) noexcept;
  CudaStream& operator=(CudaStream&& other) noexcept;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEvent {
 public:
  CudaEvent() = default;
  static CudaEvent create();
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  CudaEvent(CudaEvent&& other) noexcept;
  CudaEvent& operator=(CudaEvent&& other) noexcept;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

class NcclComm {
 public:
  NcclComm() = default;
  explicit NcclComm(ncclComm_t comm) : comm_(comm) {}
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;
  NcclComm(NcclComm&& other) noexcept;
  NcclComm& operator=(NcclComm&& other) noexcept;
  ncclComm_t get() const { return comm_; }
  // After an error or timeout: ends outstanding operations without waiting for peers.
  void abort() noexcept;

 private:
  ncclComm_t comm_ = nullptr;
};

}  // namespace missrec::runtime
