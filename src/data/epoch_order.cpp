#include "data/epoch_order.h"

#include <glog/logging.h>

#include <algorithm>
#include <numeric>

#include "data/keyed_random.h"

namespace missrec::data {

EpochOrder::EpochOrder(const std::vector<SampleSegment>& segments, int64_t chunk_size,
                       uint64_t seed, int64_t epoch)
    : seed_(seed), epoch_(epoch) {
  CHECK_GT(chunk_size, 0);
  for (size_t s = 0; s < segments.size(); ++s) {
    for (int64_t first = 0; first < segments[s].size(); first += chunk_size) {
      chunks_.push_back(Chunk{static_cast<int>(s), first,
                              std::min(chunk_size, segments[s].size() - first)});
    }
  }
  permutation_.resize(chunks_.size());
  std::iota(permutation_.begin(), permutation_.end(), 0);
  Rng rng(keyed_hash(seed, static_cast<uint64_t>(epoch), 0xc4a2c5ULL));
  shuffle(permutation_, rng);
  starts_.reserve(chunks_.size() + 1);
  for (int64_t id : permutation_) {
    starts_.push_back(total_);
    total_ += chunks_[id].count;
  }
  starts_.push_back(total_);
}

int64_t EpochOrder::permuted_index_of(int64_t position) const {
  CHECK(position >= 0 && position < total_) << position << " outside [0, " << total_ << ")";
  return static_cast<int64_t>(std::upper_bound(starts_.begin(), starts_.end(), position) -
                              starts_.begin()) - 1;
}

const std::vector<int64_t>& EpochOrder::row_order(int64_t permuted_index) const {
  const int64_t id = permutation_[permuted_index];
  if (cached_chunk_ != id) {
    cached_rows_.resize(chunks_[id].count);
    std::iota(cached_rows_.begin(), cached_rows_.end(), chunks_[id].first);
    Rng rng(keyed_hash(seed_, static_cast<uint64_t>(epoch_), 0x50ad5ULL, static_cast<uint64_t>(id)));
    shuffle(cached_rows_, rng);
    cached_chunk_ = id;
  }
  return cached_rows_;
}

SampleRef EpochOrder::at(int64_t position) const {
  const int64_t index = permuted_index_of(position);
  const Chunk& chunk = chunks_[permutation_[index]];
  return SampleRef{chunk.segment, row_order(index)[position - starts_[index]]};
}

ChunkRun EpochOrder::chunk_of(int64_t position) const {
  const int64_t index = permuted_index_of(position);
  const int64_t id = permutation_[index];
  return ChunkRun{chunks_[id].segment, chunks_[id].first, chunks_[id].count, id, starts_[index + 1]};
}

}  // namespace missrec::data
