#pragma once

#include <ATen/ATen.h>

#include <memory>

#include "data/batch.h"
#include "model/missrec_model.h"

namespace missrec::train {

// A batch's tensors on the run's device, with the host copies the length-aware path
// groups by.
struct DeviceBatch {
  model::SequenceInput view;
  model::SequenceInput aug;
  at::Tensor pos_item;  // [b] int64
  at::Tensor domain;    // [b] int64
};

// Copies batches to the run's device. On a GPU the copies run on a side stream, so that
// the next batch's copy (from the loader's pinned buffers) overlaps the current step's
// kernels; take() makes the compute stream wait for that copy alone. On the CPU the
// tensors are the batch's own.
class BatchUploader {
 public:
  explicit BatchUploader(at::Device device);
  ~BatchUploader();
  BatchUploader(const BatchUploader&) = delete;
  BatchUploader& operator=(const BatchUploader&) = delete;

  // Starts the copy of `batch` (epoch, step) and returns at once.
  void prefetch(const data::Batch& batch);

  // `batch` on the device, ready for the compute stream: the prefetched copy when it is
  // this batch's, else a copy made now. Interest columns padded after the prefetch
  // (pad_interest_columns) are padded on the device too.
  DeviceBatch take(const data::Batch& batch);

 private:
  struct Pending;
  DeviceBatch copy(const data::Batch& batch, bool on_side_stream);

  at::Device device_;
  std::unique_ptr<Pending> pending_;
};

}  // namespace missrec::train
