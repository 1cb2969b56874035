#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "data/dataset.h"
#include "data/epoch_order.h"
#include "data/sample_reader.h"

namespace missrec::data {

// The shuffle chunks a rank needs for its current slice of the epoch order, resident
// in memory. Missing chunks are read with one HDF5 call per file (a multi-range
// hyperslab), since per-call cost, not bytes, dominates these small reads.
class ChunkCache {
 public:
  explicit ChunkCache(const std::vector<SampleSegment>& segments) : segments_(segments) {}

  // Makes the chunks covering positions [begin, end) resident and drops the others.
  void load(const EpochOrder& order, int64_t begin, int64_t end);
  // History items (local ids) of the sample at `position`; its chunk must be resident.
  std::pair<const int32_t*, int64_t> history(const EpochOrder& order, int64_t position) const;

  int64_t bytes_read() const { return reader_.bytes_read(); }

 private:
  struct Resident {
    ChunkRun run;
    std::vector<int32_t> items;
  };
  const std::vector<SampleSegment>& segments_;
  SampleReader reader_;
  std::unordered_map<int64_t, Resident> resident_;
};

}  // namespace missrec::data
