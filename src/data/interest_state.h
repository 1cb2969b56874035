#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace missrec::data {

class H5File;

// The interests of the latest DPC-KNN refresh: what the model reads (the embeddings),
// what the loader reads (the item maps), and what checkpoints and exports keep. The one
// type for them in every layer.
struct InterestState {
  at::Tensor interest_embeddings;  // [K+1, H] float32, row 0 zero
  at::Tensor text_interest;        // [N+1] int64 in 1..K, 0 for the padding item
  at::Tensor image_interest;       // [N+1] int64
  int64_t clusters = 0;            // K
  int64_t knn_k = 0;               // the refresh's k (0 when read back from a file)

  bool defined() const { return interest_embeddings.defined(); }
  // The same tables with the embeddings on `device` (float32) and the maps on the host:
  // where a step and the loader read them.
  InterestState placed(at::Device device) const;
};

// The tables under `group` of an HDF5 file (interest_embeddings, text_interest,
// image_interest), as checkpoints and native exports store them. Writing undefined
// tables writes nothing; reading a file without the group gives undefined tables.
void write_interests(H5File& file, const std::string& group, const InterestState& state);
InterestState read_interests(const H5File& file, const std::string& group);

}  // namespace missrec::data
