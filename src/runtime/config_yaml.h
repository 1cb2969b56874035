#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/config.h"

namespace missrec::runtime {

// Effective configuration: defaults, then the YAML file (if any), then each
// "section.key=value" override in order; then validation. Throws InputError naming
// the file or --set argument and the key.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);

// Where each key's value came from ("file.yaml:12", "--set"), for error messages.
using ConfigOrigins = std::map<std::string, std::string>;

// Applies one YAML document's sections to `config` (no validation).
void apply_yaml_text(Config& config, const std::string& yaml_text, const std::string& where,
                     ConfigOrigins* origins = nullptr);

// Applies one "section.key=value" override (no validation).
void apply_override(Config& config, const std::string& assignment, ConfigOrigins* origins = nullptr);

// The configuration as YAML that load_config reads back to the same values.
std::string to_yaml(const Config& config);

}  // namespace missrec::runtime
