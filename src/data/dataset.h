#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/manifest.h"

namespace missrec::data {

// One HDF5 file of a domain: the item rows it holds.
struct ShardInfo {
  std::string path;
  int64_t item_offset = 0;  // local id of its first item
  int64_t n_items = 0;
};

// The samples of one split stored in one file. Offsets and targets are small and kept
// in memory; history items are read from the file on demand (hyperslabs).
// One split of one file: its samples are read through a SampleReader (histories,
// targets, users), so nothing here grows with the number of samples.
struct SampleSegment {
  std::string path;
  std::string split;
  int domain = 0;
  int64_t samples = 0;    // S
  bool has_user = false;  // the file has /samples/<split>/user
  int64_t size() const { return samples; }
};

struct DomainInfo {
  std::string name;
  int index = 0;
  int64_t n_items = 0;
  int64_t first_global_id = 1;  // global id of local item 0
  bool has_text_aug = false;
  std::vector<ShardInfo> shards;
  std::map<std::string, std::vector<SampleSegment>> splits;

  int64_t samples(const std::string& split) const;
};

// A dataset directory, validated when opened: manifest, every file's
// attributes, datasets, shapes and types, shard item ranges, sample offsets (monotone,
// in range), history and target ids (within the domain). Feature values (finite) are
// checked when the feature table is loaded. Every problem throws InputError naming the
// file and dataset path.
class Dataset {
 public:
  static Dataset open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const Manifest& manifest() const { return manifest_; }
  const std::vector<DomainInfo>& domains() const { return domains_; }
  int64_t text_dim() const { return manifest_.text_dim; }
  int64_t image_dim() const { return manifest_.image_dim; }
  int64_t total_items() const;  // global ids are 1..total_items()
  bool has_text_aug() const;
  int64_t samples(const std::string& split) const;

 private:
  std::string dir_;
  Manifest manifest_;
  std::vector<DomainInfo> domains_;
};

}  // namespace missrec::data
