#include "runtime/error.h"

namespace missrec::runtime {

InputError::InputError(const std::string& message) : std::runtime_error(message) {}

OutputError::OutputError(const std::string& message) : std::runtime_error(message) {}

void throw_input_error(const std::string& where, const std::string& what) {
  throw InputError(where.empty() ? what : where + ": " + what);
}

void throw_output_error(const std::string& where, const std::string& what) {
  throw OutputError(where.empty() ? what : where + ": " + what);
}

}  // namespace missrec::runtime
