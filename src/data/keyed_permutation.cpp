#include "data/keyed_permutation.h"

#include <glog/logging.h>

#include "data/keyed_random.h"

namespace missrec::data {

KeyedPermutation::KeyedPermutation(int64_t size, uint64_t key) : size_(size) {
  CHECK_GE(size, 0);
  int bits = 2;
  while (bits < 62 && (int64_t{1} << bits) < size) ++bits;
  bits += bits % 2;
  half_bits_ = bits / 2;
  half_mask_ = (uint64_t{1} << half_bits_) - 1;
  for (int round = 0; round < kRounds; ++round) round_keys_[round] = keyed_hash(key, static_cast<uint64_t>(round));
}

uint64_t KeyedPermutation::encrypt(uint64_t value) const {
  uint64_t left = value >> half_bits_, right = value & half_mask_;
  for (const uint64_t round_key : round_keys_) {
    const uint64_t mixed = left ^ (mix64(round_key ^ right) & half_mask_);
    left = right;
    right = mixed;
  }
  return left << half_bits_ | right;
}

int64_t KeyedPermutation::operator()(int64_t position) const {
  CHECK(position >= 0 && position < size_) << position << " outside [0, " << size_ << ")";
  uint64_t value = static_cast<uint64_t>(position);
  do {
    value = encrypt(value);
  } while (value >= static_cast<uint64_t>(size_));
  return static_cast<int64_t>(value);
}

}  // namespace missrec::data
