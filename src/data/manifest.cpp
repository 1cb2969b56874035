#include "data/manifest.h"

#include <yaml-cpp/yaml.h>

#include <set>
#include <sstream>

#include "runtime/error.h"

namespace missrec::data {

namespace {

template <class T>
T scalar(const YAML::Node& node, const std::string& where, const std::string& expected) {
  try {
    if (!node.IsScalar()) throw YAML::Exception(node.Mark(), "not a scalar");
    return node.as<T>();
  } catch (const YAML::Exception&) {
    runtime::throw_input_error(where, "expected " + expected);
  }
}

}  // namespace

Manifest Manifest::load(const std::string& dir) {
  const std::string path = dir + "/dataset.yaml";
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    runtime::throw_input_error(path, "cannot read (is " + dir + " a missrec dataset?)");
  } catch (const YAML::Exception& e) {
    runtime::throw_input_error(path + ":" + std::to_string(e.mark.line + 1), "invalid YAML: " + e.msg);
  }
  if (!root.IsMap()) runtime::throw_input_error(path, "expected a mapping");
  const std::set<std::string> known = {"format", "version", "domains", "feature_dims"};
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    if (known.count(key) == 0) runtime::throw_input_error(path, "unknown key '" + key + "'");
  }
  if (scalar<std::string>(root["format"], path + ": format", "'missrec-h5'") != kFormatName) {
    runtime::throw_input_error(path + ": format", "expected 'missrec-h5'");
  }
  if (scalar<int64_t>(root["version"], path + ": version", "1") != kFormatVersion) {
    runtime::throw_input_error(path + ": version", "expected 1 (the only version supported)");
  }
  Manifest manifest;
  const YAML::Node dims = root["feature_dims"];
  if (!dims || !dims.IsMap()) {
    runtime::throw_input_error(path + ": feature_dims", "expected {text: D, image: D}");
  }
  manifest.text_dim = scalar<int64_t>(dims["text"], path + ": feature_dims.text", "a positive integer");
  manifest.image_dim = scalar<int64_t>(dims["image"], path + ": feature_dims.image", "a positive integer");
  if (manifest.text_dim <= 0 || manifest.image_dim <= 0) {
    runtime::throw_input_error(path + ": feature_dims", "expected positive dimensions");
  }
  const YAML::Node domains = root["domains"];
  if (!domains || !domains.IsSequence() || domains.size() == 0) {
    runtime::throw_input_error(path + ": domains", "expected a non-empty list");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < domains.size(); ++i) {
    const std::string where = path + ": domains[" + std::to_string(i) + "]";
    const YAML::Node domain = domains[i];
    if (!domain.IsMap()) runtime::throw_input_error(where, "expected {name:, files: [...]}");
    DomainEntry entry;
    entry.name = scalar<std::string>(domain["name"], where + ".name", "a name");
    if (entry.name.empty() || !names.insert(entry.name).second) {
      runtime::throw_input_error(where + ".name", "expected a unique non-empty name");
    }
    const YAML::Node files = domain["files"];
    if (!files || !files.IsSequence() || files.size() == 0) {
      runtime::throw_input_error(where + ".files", "expected a non-empty list of files");
    }
    for (size_t f = 0; f < files.size(); ++f) {
      entry.files.push_back(scalar<std::string>(files[f], where + ".files", "file names"));
    }
    manifest.domains.push_back(std::move(entry));
  }
  return manifest;
}

std::string Manifest::to_yaml() const {
  std::ostringstream out;
  out << "format: " << kFormatName << "\nversion: " << kFormatVersion << "\ndomains:\n";
  for (const DomainEntry& domain : domains) {
    out << "  - name: \"" << domain.name << "\"\n    files: [";
    for (size_t f = 0; f < domain.files.size(); ++f) {
      out << (f ? ", " : "") << '"' << domain.files[f] << '"';
    }
    out << "]\n";
  }
  out << "feature_dims: {text: " << text_dim << ", image: " << image_dim << "}\n";
  return out.str();
}

}  // namespace missrec::data
