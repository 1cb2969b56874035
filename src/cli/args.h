#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/config.h"

namespace missrec::runtime {
class MpiWorld;
}

namespace missrec::cli {

// One command-line option, stated once: whether it must be given, and its default
// (what value() returns when it is not given; `--help` prints it).
struct OptionSpec {
  OptionSpec(std::string name, std::string value_name, std::string help, bool repeatable = false, bool required = false,
             std::string default_value = "")
      : name(std::move(name)),
        value_name(std::move(value_name)),
        help(std::move(help)),
        repeatable(repeatable),
        required(required),
        default_value(std::move(default_value)) {}

  std::string name;        // without the leading "--"
  std::string value_name;  // empty: a flag without a value
  std::string help;
  bool repeatable = false;
  bool required = false;      // parse_args rejects a command line without it
  std::string default_value;  // empty: none (check has() before reading the value)
};

class ParsedArgs {
 public:
  // Whether the option was given on the command line.
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // The option's value: the last one given, else its default (CHECK: it has one).
  std::string value(const std::string& name) const;
  // Every value of a repeatable option, in command-line order.
  std::vector<std::string> values(const std::string& name) const;
  // value() parsed strictly as a number; throws InputError naming the flag.
  int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  void add(const std::string& name, const std::string& value) { values_[name].push_back(value); }
  void add_positional(const std::string& value) { positionals_.push_back(value); }
  void set_default(const std::string& name, const std::string& value) { defaults_[name] = value; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> defaults_;
  std::vector<std::string> positionals_;
};

// What a running command may use: the effective configuration (when the command
// reads one; loaded and validated before MPI starts) and the MPI world (when needed).
struct CommandContext {
  const char* argv0 = "missrec";
  runtime::Config config;
  runtime::MpiWorld* world = nullptr;
};

struct CommandSpec {
  std::string name;  // words after "missrec", e.g. "config show"
  std::string summary;
  std::string positional_usage;  // e.g. "DIR"; empty: none accepted
  size_t positional_count = 0;
  std::vector<OptionSpec> options;
  bool needs_mpi = false;
  // SIGTERM/SIGUSR1 ask it to stop with a checkpoint (runtime/stop_request.h) instead of
  // ending the process: run_main takes the signals before any thread starts.
  bool stops_on_signal = false;
  bool uses_config = false;  // takes --config/--set; run_main loads them first
  // Optional: validates the command's own flags before MPI or any work starts (throws
  // InputError), so bad input is reported once, by rank 0, with exit status 2.
  std::function<void(const ParsedArgs&)> check_args;
  std::function<int(const ParsedArgs&, CommandContext&)> run;
};

// Strict parsing: unknown options (with a suggestion), missing values, a required option
// absent, wrong positional counts and repeated single-valued options all throw
// InputError naming the flag.
ParsedArgs parse_args(const CommandSpec& command, const std::vector<std::string>& args);

std::string command_help(const CommandSpec& command);

}  // namespace missrec::cli
