#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "data/samples.h"

namespace missrec::tools {

// One domain's content, in memory while it is written.
struct DomainContent {
  std::string name;
  int64_t n_items = 0;
  std::vector<float> text;          // [n_items, text_dim]
  std::vector<float> text_aug;      // empty, or [n_items, text_dim]
  std::vector<float> image;         // [n_items, image_dim]
  std::vector<std::string> tokens;  // empty, or n_items original ids
  std::map<std::string, data::SampleTable> splits;
};

// Writes a dataset into a temporary directory next to the target and
// renames it into place on commit(), so a failure never leaves a partial dataset.
// Domains are written one at a time (add_domain), so only one is in memory.
class DatasetWriter {
 public:
  // Throws InputError when `dir` already exists.
  DatasetWriter(std::string dir, int64_t text_dim, int64_t image_dim);
  ~DatasetWriter();  // removes the temporary directory unless committed
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Writes the domain; with shards > 1 the items are split over that many files (the
  // samples go to the first), exercising the multi-file layout.
  void add_domain(const DomainContent& domain, int shards = 1, bool half_features = false);
  void commit();

  const std::string& staging_dir() const { return staging_; }

 private:
  std::string dir_;
  std::string staging_;
  data::Manifest manifest_;
  bool committed_ = false;
};

// Removes a directory tree; logs instead of throwing (used in cleanup paths).
void remove_tree(const std::string& dir) noexcept;

}  // namespace missrec::tools
