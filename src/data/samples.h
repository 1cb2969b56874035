#pragma once

#include <cstdint>
#include <vector>

namespace missrec::data {

// One split's samples in CSR form: sample s has history
// items[offsets[s] .. offsets[s+1]) (local 0-based ids, oldest first) and target[s].
struct SampleTable {
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> items;
  std::vector<int32_t> target;
  std::vector<int32_t> user;  // empty when the split has no user column

  int64_t size() const { return static_cast<int64_t>(target.size()); }
  int64_t length(int64_t sample) const { return offsets[sample + 1] - offsets[sample]; }
  void add(const int32_t* history, int64_t length, int32_t next_item, int32_t user_index = -1);
};

inline constexpr const char* kSplitNames[] = {"train", "valid", "test"};

}  // namespace missrec::data
