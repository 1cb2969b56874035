#include "train/batch_upload.h"

#include <glog/logging.h>

#include <optional>

#include "build_info.h"

#if MISSREC_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace missrec::train {

namespace {

at::Tensor to_device(const at::Tensor& host, at::Device device) {
  return host.defined() ? host.to(device, /*non_blocking=*/true) : host;
}

model::SequenceInput view_on(const data::BatchView& view, const at::Tensor& text_aug_mask, at::Device device) {
  model::SequenceInput input;
  input.host_item_length = view.item_length;
  input.host_interest_seq = view.interest_seq;
  input.item_seq = to_device(view.item_seq, device);
  input.item_length = to_device(view.item_length, device);
  input.interest_seq = to_device(view.interest_seq, device);
  input.text_aug_mask = to_device(text_aug_mask, device);
  return input;
}

// Zero interest columns appended on the device up to the host's (padded) width.
void pad_to_host_width(model::SequenceInput& input, const data::BatchView& view) {
  input.host_interest_seq = view.interest_seq;
  const int64_t missing = view.interest_seq.size(1) - input.interest_seq.size(1);
  CHECK_GE(missing, 0) << "interest columns shrank after the prefetch";
  if (missing > 0) input.interest_seq = at::constant_pad_nd(input.interest_seq, {0, missing}, 0);
}

}  // namespace

#if MISSREC_TORCH_CUDA
struct BatchUploader::Pending {
  int64_t epoch = -1;
  int64_t step = -1;
  std::optional<DeviceBatch> batch;
  std::optional<c10::cuda::CUDAStream> stream;
  at::cuda::CUDAEvent copied;
};
#else
struct BatchUploader::Pending {
  int64_t epoch = -1;
  int64_t step = -1;
  std::optional<DeviceBatch> batch;
};
#endif

BatchUploader::BatchUploader(at::Device device) : device_(device), pending_(std::make_unique<Pending>()) {
#if MISSREC_TORCH_CUDA
  if (device_.is_cuda()) pending_->stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index());
#else
  CHECK(!device_.is_cuda()) << "a CUDA device with a LibTorch built without CUDA";
#endif
}

BatchUploader::~BatchUploader() = default;

DeviceBatch BatchUploader::copy(const data::Batch& batch, bool on_side_stream) {
#if MISSREC_TORCH_CUDA
  std::optional<c10::cuda::CUDAStreamGuard> side;
  if (on_side_stream && pending_->stream) side.emplace(*pending_->stream);
#else
  (void)on_side_stream;
#endif
  DeviceBatch out;
  out.view = view_on(batch.view, at::Tensor(), device_);
  out.aug = view_on(batch.aug, batch.text_aug_mask, device_);
  out.pos_item = to_device(batch.pos_item, device_);
  out.domain = to_device(batch.domain, device_);
  return out;
}

void BatchUploader::prefetch(const data::Batch& batch) {
  if (device_.is_cpu()) return;  // nothing to overlap: the tensors are the batch's own
  pending_->epoch = batch.epoch;
  pending_->step = batch.step;
  pending_->batch = copy(batch, /*on_side_stream=*/true);
#if MISSREC_TORCH_CUDA
  pending_->copied.record(*pending_->stream);
#endif
}

DeviceBatch BatchUploader::take(const data::Batch& batch) {
  const bool prefetched = pending_->batch && pending_->epoch == batch.epoch && pending_->step == batch.step;
  if (!prefetched) {
    pending_->batch.reset();
    return copy(batch, /*on_side_stream=*/false);
  }
  DeviceBatch out = std::move(*pending_->batch);
  pending_->batch.reset();
#if MISSREC_TORCH_CUDA
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(device_.index());
  pending_->copied.block(compute);
  // Memory allocated on the side stream and used on the compute stream: the caching
  // allocator must not hand it out again before the compute stream is done with it.
  for (const at::Tensor* tensor :
       {&out.view.item_seq, &out.view.item_length, &out.view.interest_seq, &out.aug.item_seq, &out.aug.item_length,
        &out.aug.interest_seq, &out.aug.text_aug_mask, &out.pos_item, &out.domain}) {
    if (tensor->defined()) c10::cuda::CUDACachingAllocator::recordStream(tensor->storage().data_ptr(), compute);
  }
#endif
  pad_to_host_width(out.view, batch.view);
  pad_to_host_width(out.aug, batch.aug);
  return out;
}

}  // namespace missrec::train
