#include "tools/convert.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "runtime/error.h"
#include "tools/dataset_writer.h"

namespace missrec::tools {

using namespace missrec::data;  // NOLINT: this tool works on data's types

namespace fs = std::filesystem;

namespace {

constexpr const char* kHeader = "user_id:token\titem_id_list:token_seq\titem_id:token";

[[noreturn]] void bad_line(const std::string& path, int64_t line, const std::string& what) {
  runtime::throw_input_error(path + ":" + std::to_string(line), what);
}

// Raw little-endian float32 rows [n, dim]; n from the file size.
std::vector<float> read_features(const std::string& path, int64_t dim, int64_t* rows) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) runtime::throw_input_error(path, "cannot read the feature file: " + error.message());
  const int64_t row_bytes = 4 * dim;
  if (size % static_cast<uintmax_t>(row_bytes) != 0) {
    runtime::throw_input_error(path, "size " + std::to_string(size) + " bytes is not a multiple of 4*D = " +
                                         std::to_string(row_bytes) + " (D = --feature-dim)");
  }
  const int64_t n = static_cast<int64_t>(size) / row_bytes;
  if (*rows >= 0 && n != *rows) {
    runtime::throw_input_error(
        path, "has " + std::to_string(n) + " rows, expected " + std::to_string(*rows) + " like the text features");
  }
  *rows = n;
  std::vector<float> values(static_cast<size_t>(n * dim));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(size));
  if (!in) runtime::throw_input_error(path, "read failed");
  return values;
}

int64_t parse_index(const std::string& path, int64_t line, std::string_view token) {
  int64_t value = -1;
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (error != std::errc() || end != token.data() + token.size() || value < 0) {
    bad_line(path, line, "unknown item token '" + std::string(token) + "'");
  }
  return value;
}

struct ItemRef {
  int domain;
  int64_t item;
};

// Downstream tokens are item indices; pretraining tokens are "<d>-<i>".
ItemRef parse_token(const std::string& path, int64_t line, std::string_view token, bool pretraining,
                    const std::vector<int64_t>& items_per_domain) {
  ItemRef ref{0, 0};
  if (pretraining) {
    const size_t dash = token.find('-');
    if (dash == std::string_view::npos) {
      bad_line(path, line, "unknown item token '" + std::string(token) + "' (expected <d>-<i>)");
    }
    ref.domain = static_cast<int>(parse_index(path, line, token.substr(0, dash)));
    ref.item = parse_index(path, line, token.substr(dash + 1));
    if (ref.domain >= static_cast<int>(items_per_domain.size())) {
      bad_line(path, line,
               "token '" + std::string(token) + "' names domain " + std::to_string(ref.domain) +
                   " but pt_datasets lists " + std::to_string(items_per_domain.size()));
    }
  } else {
    ref.item = parse_index(path, line, token);
  }
  if (ref.item >= items_per_domain[ref.domain]) {
    bad_line(path, line,
             "item id " + std::to_string(ref.item) + " beyond the " + std::to_string(items_per_domain[ref.domain]) +
                 " feature rows of its domain");
  }
  return ref;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return parts;
}

// Reads one .inter file into per-domain sample tables of `split_name`.
int64_t read_inter(const std::string& path, const std::string& split_name, bool pretraining,
                   const std::vector<int64_t>& items_per_domain, std::unordered_map<std::string, int32_t>* users,
                   std::vector<DomainContent>* domains) {
  std::ifstream in(path);
  if (!in) runtime::throw_input_error(path, "cannot read");
  std::string text;
  if (!std::getline(in, text)) bad_line(path, 1, "empty file (expected the header line)");
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text != kHeader) {
    bad_line(path, 1, "expected the header 'user_id:token<TAB>item_id_list:token_seq<TAB>item_id:token'");
  }
  int64_t line = 1;
  int64_t rows = 0;
  std::vector<int32_t> history;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty()) continue;
    const std::vector<std::string_view> fields = split(text, '\t');
    if (fields.size() != 3) {
      bad_line(path, line, "expected 3 tab-separated fields, got " + std::to_string(fields.size()));
    }
    if (fields[1].empty()) bad_line(path, line, "empty item_id_list");
    const ItemRef target = parse_token(path, line, fields[2], pretraining, items_per_domain);
    history.clear();
    for (std::string_view token : split(fields[1], ' ')) {
      if (token.empty()) bad_line(path, line, "empty token in item_id_list (double space?)");
      const ItemRef item = parse_token(path, line, token, pretraining, items_per_domain);
      if (item.domain != target.domain) {
        bad_line(path, line, "history item '" + std::string(token) + "' is from another domain than the target");
      }
      history.push_back(static_cast<int32_t>(item.item));
    }
    const std::string user(fields[0]);
    const auto inserted = users->emplace(user, static_cast<int32_t>(users->size()));
    (*domains)[target.domain].splits[split_name].add(history.data(), static_cast<int64_t>(history.size()),
                                                     static_cast<int32_t>(target.item), inserted.first->second);
    ++rows;
  }
  return rows;
}

// "raw_id<TAB>index" lines (item2index); optional.
std::vector<std::string> read_tokens(const std::string& path, int64_t n_items) {
  std::vector<std::string> tokens;
  if (!fs::exists(path)) return tokens;
  tokens.assign(static_cast<size_t>(n_items), "");
  std::ifstream in(path);
  std::string text;
  int64_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty()) continue;
    const std::vector<std::string_view> fields = split(text, '\t');
    if (fields.size() != 2) bad_line(path, line, "expected raw_id<TAB>index");
    const int64_t index = parse_index(path, line, fields[1]);
    if (index >= n_items) {
      bad_line(path, line,
               "index " + std::to_string(index) + " beyond the " + std::to_string(n_items) + " feature rows");
    }
    tokens[static_cast<size_t>(index)] = std::string(fields[0]);
  }
  return tokens;
}

std::string find_dataset_name(const std::string& source) {
  std::vector<std::string> pretraining;
  std::vector<std::string> downstream;
  for (const auto& entry : fs::directory_iterator(source)) {
    const std::string name = entry.path().filename().string();
    const auto strip = [&](const std::string& suffix) {
      return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0
                 ? name.substr(0, name.size() - suffix.size())
                 : std::string();
    };
    if (const std::string ds = strip(".pt_datasets"); !ds.empty()) pretraining.push_back(ds);
    if (const std::string ds = strip(".train.inter"); !ds.empty()) downstream.push_back(ds);
  }
  const std::vector<std::string>& found = pretraining.empty() ? downstream : pretraining;
  if (found.size() != 1) {
    runtime::throw_input_error(source, found.empty() ? "no <ds>.train.inter or <ds>.pt_datasets found"
                                                     : "several datasets found; pick one with --dataset");
  }
  return found[0];
}

}  // namespace

ConvertReport convert_missrec(const ConvertOptions& options) {
  if (!fs::is_directory(options.source)) {
    runtime::throw_input_error(options.source, "not a directory");
  }
  if (options.feature_dim < 1) runtime::throw_input_error("--feature-dim", "expected >= 1");
  const std::string ds = options.dataset.empty() ? find_dataset_name(options.source) : options.dataset;
  const std::string base = options.source + "/" + ds;
  const bool pretraining = fs::exists(base + ".pt_datasets");
  if (!fs::exists(base + ".train.inter")) {
    runtime::throw_input_error(base + ".train.inter", "missing (every layout needs a train file)");
  }

  std::vector<std::string> names;
  if (pretraining) {
    std::ifstream in(base + ".pt_datasets");
    std::string text;
    std::getline(in, text);
    if (!text.empty() && text.back() == '\r') text.pop_back();
    for (std::string_view name : split(text, ',')) {
      if (name.empty()) runtime::throw_input_error(base + ".pt_datasets:1", "empty domain name");
      names.emplace_back(name);
    }
  } else {
    names.push_back(ds);
  }

  std::vector<DomainContent> domains(names.size());
  std::vector<int64_t> items_per_domain;
  for (size_t d = 0; d < names.size(); ++d) {
    const std::string prefix = options.source + "/" + names[d];
    DomainContent& domain = domains[d];
    domain.name = names[d];
    int64_t rows = -1;
    domain.text = read_features(prefix + ".feat1CLS", options.feature_dim, &rows);
    domain.image = read_features(prefix + ".feat3CLS", options.feature_dim, &rows);
    if (fs::exists(prefix + ".feat2CLS")) {
      domain.text_aug = read_features(prefix + ".feat2CLS", options.feature_dim, &rows);
    }
    domain.n_items = rows;
    domain.tokens = read_tokens(prefix + ".item2index", rows);
    items_per_domain.push_back(rows);
  }

  std::unordered_map<std::string, int32_t> users;
  std::map<std::string, int64_t> rows_per_split;
  for (const char* split_name : kSplitNames) {
    const std::string path = base + "." + split_name + ".inter";
    if (!fs::exists(path)) continue;
    rows_per_split[split_name] = read_inter(path, split_name, pretraining, items_per_domain, &users, &domains);
  }

  DatasetWriter writer(options.out, options.feature_dim, options.feature_dim);
  std::ostringstream summary;
  for (DomainContent& domain : domains) {
    summary << domain.name << ": " << domain.n_items << " items";
    for (const auto& [split_name, table] : domain.splits) {
      summary << ", " << table.size() << " " << split_name;
    }
    summary << "\n";
    writer.add_domain(domain);
    domain = DomainContent();  // free the features as soon as they are written
  }
  writer.commit();
  for (const auto& [split_name, rows] : rows_per_split) {
    summary << split_name << ".inter: " << rows << " rows kept\n";
  }
  return ConvertReport{pretraining ? "pretraining" : "downstream", summary.str()};
}

}  // namespace missrec::tools
