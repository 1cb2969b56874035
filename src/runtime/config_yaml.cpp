#include "runtime/config_yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "runtime/error.h"
#include "runtime/suggest.h"

namespace missrec::runtime {

namespace {

std::vector<std::string> all_keys() {
  std::vector<std::string> keys;
  for (const FieldSpec& field : config_fields()) keys.push_back(field.key);
  return keys;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Sets a field from the text of a YAML scalar, strictly: the whole text must parse.
void assign(const FieldSpec& field, Config& config, const std::string& text, const std::string& where) {
  const std::string at = where + ": " + field.key;
  const FieldRef ref = field.ref(config);
  if (auto* number = std::get_if<int64_t*>(&ref)) {
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) {
      throw_input_error(at, "expected an integer, got '" + text + "'");
    }
    **number = value;
  } else if (auto* real = std::get_if<double*>(&ref)) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value)) {
      throw_input_error(at, "expected a number, got '" + text + "'");
    }
    **real = value;
  } else if (auto* flag = std::get_if<bool*>(&ref)) {
    const std::string word = lower(text);
    if (word == "true" || word == "yes" || word == "on" || word == "1") {
      **flag = true;
    } else if (word == "false" || word == "no" || word == "off" || word == "0") {
      **flag = false;
    } else {
      throw_input_error(at, "expected true or false, got '" + text + "'");
    }
  } else if (auto* value = std::get_if<std::string*>(&ref)) {
    **value = text;
  } else {
    const ChoiceRef& choice = std::get<ChoiceRef>(ref);
    choice.set(choice_index(*choice.names, text, at));
  }
}

std::string unknown_key_message(const std::string& key) {
  return "unknown key '" + key + "'" + did_you_mean(key, all_keys());
}

std::string position(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return ":" + std::to_string(mark.line + 1);
}

std::string yaml_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Shortest decimal text that reads back to the same double.
std::string shortest(double value) {
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string text = buffer;
  // Keep it a float in YAML's eyes so readers do not take 1.0 for an integer.
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

}  // namespace

void apply_yaml_text(Config& config, const std::string& yaml_text, const std::string& where, ConfigOrigins* origins) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw_input_error(where + ":" + std::to_string(e.mark.line + 1), "invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) {
    throw_input_error(where, "expected a mapping of sections (run:, data:, model:, ...)");
  }
  for (const auto& section_entry : root) {
    const std::string section = section_entry.first.as<std::string>();
    const auto& sections = config_sections();
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      throw_input_error(where + position(section_entry.first),
                        "unknown section '" + section + "'" + did_you_mean(section, sections));
    }
    const YAML::Node& body = section_entry.second;
    if (body.IsNull()) continue;
    if (!body.IsMap()) {
      throw_input_error(where + position(body) + ": " + section, "expected a mapping of keys");
    }
    for (const auto& key_entry : body) {
      const std::string key = section + "." + key_entry.first.as<std::string>();
      const FieldSpec* field = find_field(key);
      if (field == nullptr) {
        throw_input_error(where + position(key_entry.first), unknown_key_message(key));
      }
      if (!key_entry.second.IsScalar()) {
        throw_input_error(where + position(key_entry.second) + ": " + key, "expected a single value");
      }
      assign(*field, config, key_entry.second.Scalar(), where + position(key_entry.second));
      if (origins != nullptr) (*origins)[key] = where + position(key_entry.second);
    }
  }
}

void apply_override(Config& config, const std::string& assignment, ConfigOrigins* origins) {
  const std::string where = "--set " + assignment;
  const size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw_input_error(where, "expected section.key=value");
  }
  const std::string key = assignment.substr(0, equals);
  const FieldSpec* field = find_field(key);
  if (field == nullptr) throw_input_error(where, unknown_key_message(key));
  std::string value = assignment.substr(equals + 1);
  // Accept YAML-style quoting on the command line: --set run.name="a b".
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  assign(*field, config, value, "--set");
  if (origins != nullptr) (*origins)[key] = "--set";
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config config;
  ConfigOrigins origins;
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) throw_input_error(path, "cannot read the config file");
    std::stringstream text;
    text << file.rdbuf();
    apply_yaml_text(config, text.str(), path, &origins);
  }
  for (const std::string& assignment : overrides) apply_override(config, assignment, &origins);
  // Checked once, after every source: a later source may legitimately fix an earlier
  // one. Each error names the source that set the offending value.
  for (const FieldSpec& field : config_fields()) {
    const auto origin = origins.find(field.key);
    validate_field(field, config, origin == origins.end() ? "" : origin->second);
  }
  validate_relations(config, path.empty() ? "config" : path);
  return config;
}

std::string to_yaml(const Config& config) {
  Config copy = config;  // FieldSpec::ref hands out mutable pointers
  std::ostringstream out;
  std::string section;
  for (const FieldSpec& field : config_fields()) {
    const size_t dot = field.key.find('.');
    const std::string field_section = field.key.substr(0, dot);
    if (field_section != section) {
      section = field_section;
      out << section << ":\n";
    }
    std::string value;
    const FieldRef ref = field.ref(copy);
    if (const auto* number = std::get_if<int64_t*>(&ref)) value = std::to_string(**number);
    if (const auto* real = std::get_if<double*>(&ref)) value = shortest(**real);
    if (const auto* flag = std::get_if<bool*>(&ref)) value = **flag ? "true" : "false";
    if (const auto* text = std::get_if<std::string*>(&ref)) value = yaml_quoted(**text);
    if (const auto* choice = std::get_if<ChoiceRef>(&ref)) value = (*choice->names)[choice->get()];
    std::string line = "  " + field.key.substr(dot + 1) + ": " + value;
    line.resize(std::max<size_t>(line.size() + 2, 40), ' ');
    out << line << "# " << field.doc << "\n";
  }
  return out.str();
}

}  // namespace missrec::runtime
