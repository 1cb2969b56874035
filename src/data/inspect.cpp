#include "data/inspect.h"

#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>

#include "data/dataset.h"
#include "data/feature_table.h"
#include "data/sample_reader.h"

namespace missrec::data {

namespace {

struct Missing {
  int64_t text = 0;
  int64_t image = 0;
};

const std::vector<std::pair<int64_t, std::string>>& length_bins() {
  static const std::vector<std::pair<int64_t, std::string>> bins = {
      {1, "1"}, {2, "2"}, {5, "3-5"}, {10, "6-10"}, {20, "11-20"}, {49, "21-49"}, {1 << 30, ">=50"}};
  return bins;
}

}  // namespace

std::string inspect_dataset(const std::string& dir) {
  const Dataset dataset = Dataset::open(dir);
  std::map<int, Missing> missing;
  for (FeatureKind kind : {FeatureKind::kText, FeatureKind::kImage}) {
    for_each_feature_block(dataset, kind, [&](const DomainInfo& domain, int64_t, const at::Tensor& block) {
      const int64_t zero_rows = block.abs().sum(1).eq(0).sum().item<int64_t>();
      (kind == FeatureKind::kText ? missing[domain.index].text : missing[domain.index].image) += zero_rows;
    });
  }
  if (dataset.has_text_aug()) for_each_feature_block(dataset, FeatureKind::kTextAug, [](auto&&...) {});

  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  out << "dataset " << dir << ": " << dataset.domains().size() << " domains, " << dataset.total_items()
      << " items, features text " << dataset.text_dim() << " / image " << dataset.image_dim()
      << (dataset.has_text_aug() ? ", text_aug present" : ", no text_aug") << "\n";
  out << std::left << std::setw(14) << "domain" << std::right << std::setw(9) << "items" << std::setw(10) << "train"
      << std::setw(9) << "valid" << std::setw(9) << "test" << std::setw(10) << "no text" << std::setw(10) << "no image"
      << std::setw(11) << "mean hist" << std::setw(11) << "files MB"
      << "\n";
  std::vector<int64_t> histogram(length_bins().size(), 0);
  SampleReader reader;
  int64_t total_bytes = 0;
  for (const DomainInfo& domain : dataset.domains()) {
    int64_t history_sum = 0;
    int64_t history_count = 0;
    for (const auto& [split, segments] : domain.splits) {
      for (const SampleSegment& segment : segments) {
        reader.for_each_length(segment, [&](int64_t length) {
          history_sum += length;
          ++history_count;
          for (size_t b = 0; b < length_bins().size(); ++b) {
            if (length <= length_bins()[b].first) {
              ++histogram[b];
              break;
            }
          }
        });
      }
    }
    int64_t bytes = 0;
    for (const ShardInfo& shard : domain.shards) bytes += std::filesystem::file_size(shard.path);
    total_bytes += bytes;
    const double items = static_cast<double>(domain.n_items);
    out << std::left << std::setw(14) << domain.name << std::right << std::setw(9) << domain.n_items << std::setw(10)
        << domain.samples("train") << std::setw(9) << domain.samples("valid") << std::setw(9) << domain.samples("test")
        << std::setw(9) << 100.0 * missing[domain.index].text / items << "%" << std::setw(9)
        << 100.0 * missing[domain.index].image / items << "%" << std::setw(11)
        << (history_count ? static_cast<double>(history_sum) / history_count : 0.0) << std::setw(11)
        << bytes / 1048576.0 << "\n";
  }
  out << "history length histogram (all splits):";
  int64_t all = 0;
  for (int64_t count : histogram) all += count;
  for (size_t b = 0; b < histogram.size(); ++b) {
    out << "  " << length_bins()[b].second << ": " << histogram[b] << " (" << (all ? 100.0 * histogram[b] / all : 0.0)
        << "%)";
  }
  out << "\ntotal file size " << total_bytes / 1048576.0 << " MB; valid\n";
  return out.str();
}

}  // namespace missrec::data
