#include "train/safetensors_export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/config_yaml.h"
#include "runtime/error.h"
#include "runtime/file_io.h"

namespace missrec::train {

namespace {

constexpr const char* kFormat = "missrec-export";
constexpr const char* kInterestPrefix = "interests.";
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

// Every tensor of the export by its file name, on the host, contiguous.
std::map<std::string, at::Tensor> named_tensors(const ModelExport& model) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : model.parameters) tensors[name] = tensor.to(at::kCPU, at::kFloat).contiguous();
  const data::InterestState& interests = model.interests;
  if (interests.defined()) {
    tensors[std::string(kInterestPrefix) + "interest_embeddings"] =
        interests.interest_embeddings.to(at::kCPU, at::kFloat).contiguous();
    tensors[std::string(kInterestPrefix) + "text_interest"] =
        interests.text_interest.to(at::kCPU, at::kLong).contiguous();
    tensors[std::string(kInterestPrefix) + "image_interest"] =
        interests.image_interest.to(at::kCPU, at::kLong).contiguous();
  }
  return tensors;
}

int64_t element_bytes(const std::string& dtype) { return dtype == "I64" ? 8 : dtype == "F32" ? 4 : 0; }

}  // namespace

void write_safetensors_export(const ModelExport& model, const std::string& path) {
  const std::map<std::string, at::Tensor> tensors = named_tensors(model);
  std::vector<std::pair<std::string, at::Tensor>> order(tensors.begin(), tensors.end());
  // I64 first: with 8-byte tensors at the start every offset stays 8-byte aligned.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.scalar_type() == at::kLong && b.second.scalar_type() != at::kLong;
  });
  nlohmann::json header = nlohmann::json::object();
  int64_t offset = 0;
  for (const auto& [name, tensor] : order) {
    const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
    header[name] = {{"dtype", tensor.scalar_type() == at::kLong ? "I64" : "F32"},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"format", kFormat},
                            {"config", runtime::to_yaml(model.config)},
                            {"epoch", std::to_string(model.epoch)},
                            {"global_step", std::to_string(model.global_step)}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t length = text.size();
  runtime::write_staged(path, [&](const std::string& staging) {
    std::ofstream out(staging, std::ios::binary | std::ios::trunc);
    unsigned char prefix[8];
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>((length >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(prefix), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, tensor] : order) {
      out.write(static_cast<const char*>(tensor.data_ptr()), tensor.numel() * tensor.element_size());
    }
    out.flush();
    if (!out) runtime::throw_output_error(path, "write failed (disk full or not writable)");
  });
}

namespace {

struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  int64_t begin = 0;
  int64_t end = 0;
};

std::string read_bytes(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) runtime::throw_input_error(path, "no such file");
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) runtime::throw_input_error(path, "cannot read");
  return bytes;
}

// The JSON header; `buffer` is set to where the byte buffer starts.
nlohmann::json parse_header(const std::string& path, const std::string& bytes, size_t* buffer) {
  if (bytes.size() < 8) runtime::throw_input_error(path, "shorter than safetensors' 8-byte header length");
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  if (length > bytes.size() - 8 || length > kMaxHeaderBytes) {
    runtime::throw_input_error(path, "safetensors header length " + std::to_string(length) + " exceeds the file (" +
                                         std::to_string(bytes.size()) + " bytes)");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, length));
  } catch (const nlohmann::json::exception& e) {
    runtime::throw_input_error(path, std::string("safetensors header is not JSON: ") + e.what());
  }
  if (!header.is_object()) runtime::throw_input_error(path, "safetensors header is not a JSON object");
  *buffer = 8 + length;
  return header;
}

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& value, int64_t buffer_size) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets")) {
    runtime::throw_input_error(where, "needs dtype, shape and data_offsets");
  }
  Entry entry;
  entry.name = name;
  entry.dtype = value["dtype"].is_string() ? value["dtype"].get<std::string>() : "";
  if (element_bytes(entry.dtype) == 0) {
    runtime::throw_input_error(where, "dtype '" + entry.dtype + "' is not F32 or I64");
  }
  const nlohmann::json& shape = value["shape"];
  const nlohmann::json& offsets = value["data_offsets"];
  if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), [](const auto& d) {
        return d.is_number_integer() && d.template get<int64_t>() >= 0;
      })) {
    runtime::throw_input_error(where, "shape is not a list of sizes");
  }
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_integer() ||
      !offsets[1].is_number_integer()) {
    runtime::throw_input_error(where, "data_offsets is not [begin, end]");
  }
  entry.shape = shape.get<std::vector<int64_t>>();
  entry.begin = offsets[0].get<int64_t>();
  entry.end = offsets[1].get<int64_t>();
  int64_t numel = 1;
  for (const int64_t d : entry.shape) numel *= d;
  if (entry.begin < 0 || entry.end < entry.begin || entry.end > buffer_size ||
      entry.end - entry.begin != numel * element_bytes(entry.dtype)) {
    runtime::throw_input_error(where, "data_offsets [" + std::to_string(entry.begin) + ", " +
                                          std::to_string(entry.end) + ") do not hold its shape and dtype within the " +
                                          std::to_string(buffer_size) + "-byte buffer");
  }
  return entry;
}

// The buffer must be covered exactly: no hole, no overlap.
void check_coverage(const std::string& path, std::vector<Entry>& entries, int64_t buffer_size) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  int64_t at = 0;
  for (const Entry& entry : entries) {
    if (entry.begin != at) {
      runtime::throw_input_error(path, "safetensors byte buffer has a hole or an overlap at byte " +
                                           std::to_string(std::min(at, entry.begin)) + " (tensor '" + entry.name +
                                           "')");
    }
    at = entry.end;
  }
  if (at != buffer_size) {
    runtime::throw_input_error(
        path, "safetensors byte buffer has " + std::to_string(buffer_size - at) + " bytes after its last tensor");
  }
}

std::string metadata_field(const std::string& path, const nlohmann::json& header, const char* key) {
  const auto metadata = header.find("__metadata__");
  if (metadata == header.end() || !metadata->is_object() || !metadata->contains(key) || !(*metadata)[key].is_string()) {
    runtime::throw_input_error(path,
                               std::string("safetensors __metadata__ lacks '") + key + "' (not a missrec export)");
  }
  return (*metadata)[key].get<std::string>();
}

}  // namespace

ModelExport read_safetensors_export(const std::string& path) {
  const std::string bytes = read_bytes(path);
  size_t buffer = 0;
  const nlohmann::json header = parse_header(path, bytes, &buffer);
  if (metadata_field(path, header, "format") != kFormat) {
    runtime::throw_input_error(path, std::string("safetensors __metadata__ format is not ") + kFormat);
  }
  const int64_t buffer_size = static_cast<int64_t>(bytes.size() - buffer);
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name != "__metadata__") entries.push_back(parse_entry(path, name, value, buffer_size));
  }
  check_coverage(path, entries, buffer_size);
  ModelExport model;
  model.config = config_from_yaml_text(metadata_field(path, header, "config"), path + ": __metadata__ config");
  model.epoch = std::stoll(metadata_field(path, header, "epoch"));
  model.global_step = std::stoll(metadata_field(path, header, "global_step"));
  std::map<std::string, at::Tensor> interests;
  for (const Entry& entry : entries) {
    at::Tensor tensor = at::empty(entry.shape, entry.dtype == "I64" ? at::kLong : at::kFloat);
    std::memcpy(tensor.data_ptr(), bytes.data() + buffer + entry.begin, static_cast<size_t>(entry.end - entry.begin));
    if (entry.name.rfind(kInterestPrefix, 0) == 0) {
      interests[entry.name.substr(std::strlen(kInterestPrefix))] = tensor;
    } else {
      model.parameters[entry.name] = tensor;
    }
  }
  if (!interests.empty()) {
    for (const char* table : {"interest_embeddings", "text_interest", "image_interest"}) {
      if (interests.count(table) == 0) runtime::throw_input_error(path, std::string("lacks interests.") + table);
    }
    model.interests.interest_embeddings = interests["interest_embeddings"];
    model.interests.text_interest = interests["text_interest"];
    model.interests.image_interest = interests["image_interest"];
    model.interests.clusters = model.interests.interest_embeddings.size(0) - 1;
  }
  return model;
}

}  // namespace missrec::train
