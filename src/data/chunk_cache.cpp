#include "data/chunk_cache.h"

#include <glog/logging.h>

#include <map>
#include <set>

namespace missrec::data {

void ChunkCache::load(const EpochOrder& order, int64_t begin, int64_t end) {
  std::set<int64_t> needed;
  std::map<int, std::vector<ChunkRun>> missing;  // by segment
  for (int64_t position = begin; position < end;) {
    const ChunkRun run = order.chunk_of(position);
    needed.insert(run.chunk);
    if (resident_.count(run.chunk) == 0) missing[run.segment].push_back(run);
    position = run.order_end;
  }
  for (auto it = resident_.begin(); it != resident_.end();) {
    it = needed.count(it->first) ? std::next(it) : resident_.erase(it);
  }
  for (const auto& [segment, runs] : missing) {
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (const ChunkRun& run : runs) ranges.emplace_back(run.first, run.count);
    std::vector<std::vector<int32_t>> items = reader_.read_ranges(segments_[segment], ranges);
    for (size_t i = 0; i < runs.size(); ++i) {
      resident_.emplace(runs[i].chunk, Resident{runs[i], std::move(items[i])});
    }
  }
}

std::pair<const int32_t*, int64_t> ChunkCache::history(const EpochOrder& order,
                                                       int64_t position) const {
  const ChunkRun run = order.chunk_of(position);
  const auto found = resident_.find(run.chunk);
  CHECK(found != resident_.end()) << "chunk of position " << position << " not loaded";
  const SampleRef ref = order.at(position);
  const SampleSegment& segment = segments_[ref.segment];
  const int64_t base = segment.offsets[run.first];
  return {found->second.items.data() + (segment.offsets[ref.row] - base),
          segment.offsets[ref.row + 1] - segment.offsets[ref.row]};
}

}  // namespace missrec::data
