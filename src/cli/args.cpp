#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include <glog/logging.h>

#include "runtime/error.h"
#include "runtime/suggest.h"

namespace missrec::cli {

using runtime::throw_input_error;

std::string ParsedArgs::value(const std::string& name) const {
  const auto found = values_.find(name);
  if (found != values_.end()) return found->second.back();
  const auto fallback = defaults_.find(name);
  CHECK(fallback != defaults_.end()) << "--" << name << " has no default: check has() before reading it";
  return fallback->second;
}

std::vector<std::string> ParsedArgs::values(const std::string& name) const {
  const auto found = values_.find(name);
  return found == values_.end() ? std::vector<std::string>{} : found->second;
}

int64_t ParsedArgs::integer(const std::string& name) const {
  const std::string text = value(name);
  errno = 0;
  char* end = nullptr;
  const long long number = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    throw_input_error("--" + name, "expected an integer, got '" + text + "'");
  }
  return number;
}

double ParsedArgs::real(const std::string& name) const {
  const std::string text = value(name);
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(number)) {
    throw_input_error("--" + name, "expected a number, got '" + text + "'");
  }
  return number;
}

ParsedArgs parse_args(const CommandSpec& command, const std::vector<std::string>& args) {
  ParsedArgs parsed;
  std::vector<std::string> known;
  for (const OptionSpec& option : command.options) known.push_back("--" + option.name);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      std::string inline_value;
      bool has_inline = false;
      const size_t equals = name.find('=');
      if (equals != std::string::npos) {
        inline_value = name.substr(equals + 1);
        name = name.substr(0, equals);
        has_inline = true;
      }
      const OptionSpec* spec = nullptr;
      for (const OptionSpec& option : command.options) {
        if (option.name == name) spec = &option;
      }
      if (spec == nullptr) {
        throw_input_error("missrec " + command.name,
                          "unknown option --" + name + runtime::did_you_mean("--" + name, known));
      }
      if (!spec->repeatable && parsed.has(name)) {
        throw_input_error("--" + name, "given more than once");
      }
      if (spec->value_name.empty()) {
        if (has_inline) throw_input_error("--" + name, "takes no value");
        parsed.add(name, "");
      } else if (has_inline) {
        parsed.add(name, inline_value);
      } else {
        if (i + 1 >= args.size()) {
          throw_input_error("--" + name, "expects a value (" + spec->value_name + ")");
        }
        parsed.add(name, args[++i]);
      }
    } else if (arg.size() > 1 && arg[0] == '-' && arg != "-") {
      throw_input_error("missrec " + command.name, "unknown option " + arg);
    } else {
      parsed.add_positional(arg);
    }
  }
  for (const OptionSpec& option : command.options) {
    if (!option.default_value.empty()) parsed.set_default(option.name, option.default_value);
    if (option.required && !parsed.has(option.name)) {
      throw_input_error("missrec " + command.name, "--" + option.name + " " + option.value_name + " is required");
    }
  }
  if (parsed.positionals().size() != command.positional_count) {
    if (command.positional_count == 0) {
      throw_input_error("missrec " + command.name, "unexpected argument '" + parsed.positionals().front() + "'");
    }
    throw_input_error("missrec " + command.name, "expects " + command.positional_usage + " (see --help)");
  }
  return parsed;
}

std::string command_help(const CommandSpec& command) {
  std::ostringstream out;
  out << "usage: missrec " << command.name;
  if (!command.positional_usage.empty()) out << ' ' << command.positional_usage;
  if (!command.options.empty()) out << " [options]";
  out << "\n\n" << command.summary << "\n";
  if (!command.options.empty()) {
    out << "\noptions:\n";
    for (const OptionSpec& option : command.options) {
      std::string left = "  --" + option.name;
      if (!option.value_name.empty()) left += " " + option.value_name;
      if (left.size() < 26) left.resize(26, ' ');
      out << left << "  " << option.help << (option.repeatable ? " (repeatable)" : "")
          << (option.required ? " (required)" : "")
          << (option.default_value.empty() ? "" : " (default " + option.default_value + ")") << "\n";
    }
  }
  if (command.needs_mpi) {
    out << "\nRuns under mpirun/srun (one rank per GPU, or per CPU slot), or alone as 1 rank.\n";
  }
  return out.str();
}

}  // namespace missrec::cli
