#pragma once

#include <cstdint>
#include <string>

namespace missrec::runtime {

// Faults armed by the environment for the reliability tests (tests/train/fault_test.py):
// MISSREC_FAULT="nan-loss@S" makes the summed loss of global step S non-finite on rank 1
// (rank 0 when alone); "pause-refresh@E" pauses rank 0 for half of dist.timeout_s inside
// epoch E's interest refresh, "pause-checkpoint@G" for dist.timeout_s + 60 s with the
// checkpoint of global step G staged but not in place (tests/launch/multihost_test.py
// cuts a link meanwhile). Unset in normal runs; reading it costs one getenv per call. Returns true and sets *value when
// `name` is armed ("name" or "name@value").
bool fault_armed(const std::string& name, int64_t* value = nullptr);

}  // namespace missrec::runtime
