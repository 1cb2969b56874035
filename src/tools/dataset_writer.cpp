#include "tools/dataset_writer.h"

#include <glog/logging.h>

#include <filesystem>
#include <fstream>

#include "data/h5_file.h"
#include "runtime/error.h"

namespace missrec::tools {

using data::DomainEntry;
using data::H5File;
using data::kFormatName;
using data::kFormatVersion;

namespace fs = std::filesystem;

void remove_tree(const std::string& dir) noexcept {
  std::error_code error;
  fs::remove_all(dir, error);
  if (error) LOG(WARNING) << "cannot remove " << dir << ": " << error.message();
}

DatasetWriter::DatasetWriter(std::string dir, int64_t text_dim, int64_t image_dim) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  if (fs::exists(dir_)) {
    runtime::throw_input_error(dir_, "already exists; choose a new output directory");
  }
  const fs::path parent = fs::absolute(dir_).parent_path();
  std::error_code error;
  fs::create_directories(parent, error);
  if (error) runtime::throw_input_error(parent.string(), "cannot create: " + error.message());
  staging_ = (parent / ("." + fs::path(dir_).filename().string() + ".partial-" + std::to_string(::getpid()))).string();
  remove_tree(staging_);
  fs::create_directory(staging_, error);
  if (error) runtime::throw_input_error(staging_, "cannot create: " + error.message());
  manifest_.text_dim = text_dim;
  manifest_.image_dim = image_dim;
}

DatasetWriter::~DatasetWriter() {
  if (!committed_) remove_tree(staging_);
}

void DatasetWriter::add_domain(const DomainContent& domain, int shards, bool half_features) {
  CHECK_GE(shards, 1);
  CHECK_EQ(static_cast<int64_t>(domain.text.size()), domain.n_items * manifest_.text_dim) << domain.name;
  CHECK_EQ(static_cast<int64_t>(domain.image.size()), domain.n_items * manifest_.image_dim) << domain.name;
  CHECK(domain.text_aug.empty() || domain.text_aug.size() == domain.text.size()) << domain.name;
  CHECK(domain.tokens.empty() || static_cast<int64_t>(domain.tokens.size()) == domain.n_items);
  DomainEntry entry;
  entry.name = domain.name;
  const int64_t per_shard = (domain.n_items + shards - 1) / shards;
  for (int shard = 0; shard < shards; ++shard) {
    const int64_t begin = std::min(domain.n_items, shard * per_shard);
    const int64_t end = std::min(domain.n_items, begin + per_shard);
    const std::string name = shards == 1 ? domain.name + ".h5"
                                         : domain.name + "-" + std::string(5 - std::to_string(shard).size(), '0') +
                                               std::to_string(shard) + ".h5";
    H5File file = H5File::create(staging_ + "/" + name);
    file.set_string_attribute("/", "format", kFormatName);
    file.set_int_attribute("/", "version", kFormatVersion);
    file.set_string_attribute("/", "domain", domain.name);
    const int64_t rows = end - begin;
    file.write_float_matrix("/items/text", domain.text.data() + begin * manifest_.text_dim, rows, manifest_.text_dim,
                            half_features);
    if (!domain.text_aug.empty()) {
      file.write_float_matrix("/items/text_aug", domain.text_aug.data() + begin * manifest_.text_dim, rows,
                              manifest_.text_dim, half_features);
    }
    file.write_float_matrix("/items/image", domain.image.data() + begin * manifest_.image_dim, rows,
                            manifest_.image_dim, half_features);
    if (!domain.tokens.empty()) {
      file.write_strings("/items/token",
                         std::vector<std::string>(domain.tokens.begin() + begin, domain.tokens.begin() + end));
    }
    file.set_int_attribute("/items", "item_offset", begin);
    if (shard == 0) {
      for (const auto& [split, table] : domain.splits) {
        const std::string group = "/samples/" + split;
        file.write_int64(group + "/offsets", table.offsets);
        file.write_int32(group + "/items", table.items);
        file.write_int32(group + "/target", table.target);
        if (!table.user.empty()) file.write_int32(group + "/user", table.user);
      }
    }
    file.flush();
    entry.files.push_back(name);
  }
  manifest_.domains.push_back(std::move(entry));
}

void DatasetWriter::commit() {
  CHECK(!committed_);
  {
    std::ofstream out(staging_ + "/dataset.yaml");
    out << manifest_.to_yaml();
    out.flush();
    if (!out) runtime::throw_output_error(staging_ + "/dataset.yaml", "write failed");
  }
  std::error_code error;
  fs::rename(staging_, dir_, error);
  if (error) runtime::throw_input_error(dir_, "cannot move the finished dataset into place: " + error.message());
  committed_ = true;
}

}  // namespace missrec::tools
