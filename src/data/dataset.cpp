#include "data/dataset.h"

#include <algorithm>

#include "data/h5_file.h"
#include "data/samples.h"
#include "runtime/error.h"

namespace missrec::data {

namespace {

void require(bool condition, const std::string& where, const std::string& what) {
  if (!condition) runtime::throw_input_error(where, what);
}

void check_features(const H5File& file, const std::string& dataset, int64_t dim, int64_t* rows) {
  const std::string where = file.path() + ": " + dataset;
  const std::vector<int64_t> shape = file.shape(dataset);
  require(shape.size() == 2, where, "expected a 2-D dataset [n, D]");
  require(file.is_float(dataset), where, "expected float16 or float32 values");
  require(
      shape[1] == dim, where,
      "expected " + std::to_string(dim) + " columns (feature_dims in dataset.yaml), got " + std::to_string(shape[1]));
  if (*rows < 0) *rows = shape[0];
  require(shape[0] == *rows, where,
          "expected " + std::to_string(*rows) + " rows like /items/text, got " + std::to_string(shape[0]));
}

std::vector<int64_t> check_vector(const H5File& file, const std::string& dataset, int64_t length) {
  const std::string where = file.path() + ": " + dataset;
  const std::vector<int64_t> shape = file.shape(dataset);
  require(shape.size() == 1, where, "expected a 1-D dataset");
  require(file.is_integer(dataset), where, "expected integers");
  if (length >= 0) {
    require(shape[0] == length, where,
            "expected " + std::to_string(length) + " elements, got " + std::to_string(shape[0]));
  }
  return shape;
}

// Checks the offsets of a split in blocks: S + 1 >= 1 values, from 0, strictly rising
// (no empty history), ending at the items' length. Returns S.
int64_t check_offsets(const H5File& file, const std::string& group, const std::string& at, int64_t nnz) {
  const int64_t length = check_vector(file, group + "/offsets", -1)[0];
  require(length >= 1, at + "/offsets", "expected S+1 >= 1 elements");
  constexpr int64_t kBlock = 1 << 22;
  int64_t previous = -1;
  for (int64_t start = 0; start < length; start += kBlock) {
    const std::vector<int64_t> offsets = file.read_int64(group + "/offsets", start, std::min(kBlock, length - start));
    if (start == 0) require(offsets.front() == 0, at + "/offsets", "expected to start at 0");
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (start + static_cast<int64_t>(i) > 0 && offsets[i] <= previous) {
        runtime::throw_input_error(
            at + "/offsets",
            "sample " + std::to_string(start + static_cast<int64_t>(i) - 1) +
                (offsets[i] < previous ? " has offsets that decrease (must be monotone)" : " has an empty history"));
      }
      previous = offsets[i];
    }
  }
  require(previous == nnz, at + "/offsets",
          "last offset " + std::to_string(previous) + " != length of items " + std::to_string(nnz));
  return length - 1;
}

// Checks that every id of a 1-D dataset lies in [0, n_items), in blocks so memory stays
// small for large splits; an error reads "<what> <index><is> <id> outside [0, n_items)".
void check_ids(const H5File& file, const std::string& dataset, const std::string& at, int64_t count, int64_t n_items,
               const char* what, const char* is) {
  constexpr int64_t kBlock = 1 << 22;
  for (int64_t start = 0; start < count; start += kBlock) {
    const std::vector<int32_t> ids = file.read_int32(dataset, start, std::min(kBlock, count - start));
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= n_items) {
        runtime::throw_input_error(at, std::string(what) + " " + std::to_string(start + static_cast<int64_t>(i)) + is +
                                           std::to_string(ids[i]) + " outside [0, " + std::to_string(n_items) + ")");
      }
    }
  }
}

SampleSegment load_segment(const H5File& file, const std::string& split, int domain, int64_t n_items) {
  const std::string group = "/samples/" + split;
  SampleSegment segment;
  segment.path = file.path();
  segment.split = split;
  segment.domain = domain;
  const std::string at = file.path() + ": " + group;
  const int64_t nnz = check_vector(file, group + "/items", -1)[0];
  segment.samples = check_offsets(file, group, at, nnz);
  check_vector(file, group + "/target", segment.samples);
  check_ids(file, group + "/target", at + "/target", segment.samples, n_items, "sample", " has item id ");
  check_ids(file, group + "/items", at + "/items", nnz, n_items, "element", " is item id ");
  if (file.exists(group + "/user")) {
    check_vector(file, group + "/user", segment.samples);
    segment.has_user = true;
  }
  return segment;
}

}  // namespace

int64_t DomainInfo::samples(const std::string& split) const {
  const auto found = splits.find(split);
  if (found == splits.end()) return 0;
  int64_t total = 0;
  for (const SampleSegment& segment : found->second) total += segment.size();
  return total;
}

Dataset Dataset::open(const std::string& dir) {
  Dataset dataset;
  dataset.dir_ = dir;
  dataset.manifest_ = Manifest::load(dir);
  int64_t next_global = 1;
  for (size_t d = 0; d < dataset.manifest_.domains.size(); ++d) {
    const DomainEntry& entry = dataset.manifest_.domains[d];
    DomainInfo domain;
    domain.name = entry.name;
    domain.index = static_cast<int>(d);
    domain.first_global_id = next_global;
    std::vector<H5File> files;
    for (size_t f = 0; f < entry.files.size(); ++f) {
      const std::string path = dir + "/" + entry.files[f];
      files.push_back(H5File::open_read(path));
      const H5File& file = files.back();
      require(file.has_attribute("/", "format") && file.attribute<std::string>("/", "format") == kFormatName,
              path + ": /", "expected attribute format=missrec-h5");
      require(file.has_attribute("/", "version") && file.attribute<int64_t>("/", "version") == kFormatVersion,
              path + ": /", "expected attribute version=1");
      require(file.has_attribute("/", "domain") && file.attribute<std::string>("/", "domain") == entry.name,
              path + ": /", "expected attribute domain=" + entry.name + " (from dataset.yaml)");
      ShardInfo shard;
      shard.path = path;
      shard.n_items = -1;
      check_features(file, "/items/text", dataset.manifest_.text_dim, &shard.n_items);
      check_features(file, "/items/image", dataset.manifest_.image_dim, &shard.n_items);
      const bool aug = file.exists("/items/text_aug");
      if (aug) check_features(file, "/items/text_aug", dataset.manifest_.text_dim, &shard.n_items);
      require(f == 0 || aug == domain.has_text_aug, path + ": /items/text_aug",
              "present in some shards of domain " + entry.name + " but not all");
      domain.has_text_aug = aug;
      if (file.exists("/items/token")) {
        const std::vector<int64_t> shape = file.shape("/items/token");
        require(shape.size() == 1 && shape[0] == shard.n_items, path + ": /items/token",
                "expected one token per item row");
      }
      shard.item_offset =
          file.has_attribute("/items", "item_offset") ? file.attribute<int64_t>("/items", "item_offset") : 0;
      require(shard.item_offset == domain.n_items, path + ": /items",
              "attribute item_offset=" + std::to_string(shard.item_offset) + ", expected " +
                  std::to_string(domain.n_items) +
                  " (shards hold consecutive item ranges in "
                  "the order dataset.yaml lists them)");
      domain.n_items += shard.n_items;
      domain.shards.push_back(shard);
    }
    require(domain.n_items > 0, dir + "/dataset.yaml: " + entry.name, "domain has no items");
    for (const H5File& file : files) {
      for (const char* split : kSplitNames) {
        if (!file.exists(std::string("/samples/") + split)) continue;
        domain.splits[split].push_back(load_segment(file, split, domain.index, domain.n_items));
      }
    }
    next_global += domain.n_items;
    dataset.domains_.push_back(std::move(domain));
  }
  return dataset;
}

int64_t Dataset::total_items() const {
  int64_t total = 0;
  for (const DomainInfo& domain : domains_) total += domain.n_items;
  return total;
}

bool Dataset::has_text_aug() const {
  return std::all_of(domains_.begin(), domains_.end(), [](const DomainInfo& domain) { return domain.has_text_aug; });
}

int64_t Dataset::samples(const std::string& split) const {
  int64_t total = 0;
  for (const DomainInfo& domain : domains_) total += domain.samples(split);
  return total;
}

}  // namespace missrec::data
