#pragma once

#include <string>

#include "data/dataset.h"
#include "data/interest_state.h"
#include "model/missrec_model.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::train {

// What a trained model gives its users: top-K lists and vectors, for every sample of a
// split (one per user in valid/test), computed in the fixed batches of evaluation
// (SplitBatches), so the files are identical at any rank count. Rank 0 writes; every
// output is staged and renamed, so a failed run leaves none.
struct RecommendOptions {
  std::string split = "test";
  int64_t topk = 10;
  // Scores of the sample's history items set to -inf first. Evaluation ranks every item
  // (as the public implementation does), so Recall@K from the lists equals evaluate's
  // only without it.
  bool exclude_history = false;
  int64_t batch_size = 256;
};

// <out> (HDF5): /sample [U] int64 (index in the split's file order), /user [U] int64
// (the dataset's user index, -1 when it has none), /target [U] int64 (the held-out
// item), /items [U, K] int64 (global item ids, best first), /scores [U, K] float32 (the
// model's scores: fused similarities divided by the temperature).
void write_recommendations(model::MissRecImpl& model, const model::ItemFeatures& features,
                           const data::InterestState& interests, const data::Dataset& dataset, int64_t max_seq_len,
                           const RecommendOptions& options, runtime::Communicator& comm, const std::string& out);

// <dir>/vectors.h5: /items/text, /items/image (and /items/id for a model with item-ID
// embeddings) [N, H], the unit vectors item i's score multiplies (row i - 1 is global
// item i); /users/z [U, H] and /users/sample, /users/user, /users/target as above.
// <dir>/items.npy [N, 2H or 3H] (text | image | id) and <dir>/users.npy [U, H], float32.
// Item blocks of `item_block` rows and user batches keep memory bounded.
void write_vectors(model::MissRecImpl& model, const model::ItemFeatures& features, const data::InterestState& interests,
                   const data::Dataset& dataset, int64_t max_seq_len, const RecommendOptions& options,
                   runtime::Communicator& comm, const std::string& dir, int64_t item_block = 8192);

}  // namespace missrec::train
