#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace missrec::data {

// Where one position of an epoch's order points: sample `row` of segment `segment`.
struct SampleRef {
  int segment = 0;
  int64_t row = 0;
};

// A contiguous run of positions that fall into one chunk: rows [first, first + count)
// of `segment` hold every sample the run needs.
struct ChunkRun {
  int segment = 0;
  int64_t first = 0;
  int64_t count = 0;
  int64_t chunk = 0;      // chunk id (for caching)
  int64_t order_end = 0;  // first position of the order after this chunk
};

// The epoch's global sample order (SPEC §2.4): the samples of every segment cut into
// fixed-size chunks, the chunks in a permutation seeded by (seed, epoch), the rows of
// each chunk in an order seeded by (seed, epoch, chunk). It does not depend on the
// number of ranks: global batch t is positions [tB, (t+1)B) and rank r of P takes slice r.
class EpochOrder {
 public:
  EpochOrder(const std::vector<SampleSegment>& segments, int64_t chunk_size, uint64_t seed,
             int64_t epoch);

  int64_t size() const { return total_; }
  SampleRef at(int64_t position) const;
  // The chunk that holds `position` (its rows, for one hyperslab read).
  ChunkRun chunk_of(int64_t position) const;

 private:
  struct Chunk {
    int segment;
    int64_t first;
    int64_t count;
  };
  const std::vector<int64_t>& row_order(int64_t permuted_index) const;
  int64_t permuted_index_of(int64_t position) const;

  std::vector<Chunk> chunks_;          // natural order
  std::vector<int64_t> permutation_;   // position in order -> natural chunk id
  std::vector<int64_t> starts_;        // first position of each permuted chunk, + total
  uint64_t seed_;
  int64_t epoch_;
  int64_t total_ = 0;
  mutable int64_t cached_chunk_ = -1;
  mutable std::vector<int64_t> cached_rows_;
};

}  // namespace missrec::data
