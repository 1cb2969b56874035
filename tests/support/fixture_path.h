#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace missrec::testing {

// A reference fixture (tests/fixtures, or $MISSREC_FIXTURES): the public
// implementation's numbers.
inline std::string fixture_path(const std::string& name) {
  const char* dir = std::getenv("MISSREC_FIXTURES");
  const char* source = std::getenv("MISSREC_SOURCE_DIR");
  const std::string base = dir != nullptr ? dir : std::string(source != nullptr ? source : ".") + "/tests/fixtures";
  return base + "/" + name;
}

}  // namespace missrec::testing

// Skips the current test, naming the file, when the fixture is absent (CTest reports
// the skip status for the parity entries).
#define MISSREC_SKIP_WITHOUT_FIXTURE(path)                          \
  if (!std::filesystem::exists(path)) {                             \
    GTEST_SKIP() << "reference fixture " << (path) << " is absent"; \
  }
