#include "runtime/fault_injection.h"

#include <cstdlib>

namespace missrec::runtime {

bool fault_armed(const std::string& name, int64_t* value) {
  const char* spec = std::getenv("MISSREC_FAULT");
  if (spec == nullptr) return false;
  const std::string text(spec);
  if (text.compare(0, name.size(), name) != 0) return false;
  if (text.size() == name.size()) return true;
  if (text[name.size()] != '@') return false;
  if (value != nullptr) *value = std::strtoll(text.c_str() + name.size() + 1, nullptr, 10);
  return true;
}

}  // namespace missrec::runtime
