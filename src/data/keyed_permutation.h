#pragma once

#include <array>
#include <cstdint>

namespace missrec::data {

// A keyed pseudo-random bijection of [0, size): a balanced Feistel network over the
// smallest even number of bits (at least 2) that covers `size`, with cycle-walking (a
// value >= size is encrypted again until it falls inside; the domain is < 4 size, so
// under 4 rounds of walking on average). Each round mixes one half with a 64-bit hash
// of the other keyed by (key, round). O(1) memory and O(1) time per lookup.
class KeyedPermutation {
 public:
  KeyedPermutation(int64_t size, uint64_t key);
  int64_t size() const { return size_; }
  int64_t operator()(int64_t position) const;

 private:
  static constexpr int kRounds = 8;
  uint64_t encrypt(uint64_t value) const;

  int64_t size_;
  int half_bits_;
  uint64_t half_mask_;
  std::array<uint64_t, kRounds> round_keys_{};
};

}  // namespace missrec::data
