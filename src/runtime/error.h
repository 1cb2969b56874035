#pragma once

#include <stdexcept>
#include <string>

namespace missrec::runtime {

// Process exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

// Bad user input: a config value, a CLI flag, a data file, a checkpoint. The message is
// one line naming the file, key or dataset and what was expected; `main` prints it and
// exits with kExitBadInput. Broken internal invariants use glog CHECK instead.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message);
};

// Builds "<where>: <what>" so every error names its source the same way.
[[noreturn]] void throw_input_error(const std::string& where, const std::string& what);

}  // namespace missrec::runtime
