#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace missrec::data {

// dataset.yaml: the domains in index order, each with its shard files, and
// the feature dimensions.
struct DomainEntry {
  std::string name;
  std::vector<std::string> files;  // relative to the dataset directory
};

struct Manifest {
  std::vector<DomainEntry> domains;
  int64_t text_dim = 512;
  int64_t image_dim = 512;

  // Reads and validates DIR/dataset.yaml; throws InputError naming the file and key.
  static Manifest load(const std::string& dir);
  std::string to_yaml() const;
};

inline constexpr const char* kFormatName = "missrec-h5";
inline constexpr int64_t kFormatVersion = 1;

}  // namespace missrec::data
