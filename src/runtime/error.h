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

// An output that could not be written (disk full, no permission, I/O error): not the
// user's input, so `main` exits with kExitFailure, the message naming the file.
class OutputError : public std::runtime_error {
 public:
  explicit OutputError(const std::string& message);
};

// Build "<where>: <what>" so every error names its source the same way.
[[noreturn]] void throw_input_error(const std::string& where, const std::string& what);
[[noreturn]] void throw_output_error(const std::string& where, const std::string& what);

}  // namespace missrec::runtime
