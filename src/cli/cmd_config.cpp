#include <iostream>

#include "cli/commands.h"
#include "runtime/config_yaml.h"
#include "runtime/error.h"

namespace missrec::cli {

CommandSpec config_show_command() {
  CommandSpec command;
  command.name = "config show";
  command.summary =
      "Prints the effective configuration (defaults < --config file < --set, in order) as "
      "YAML that --config reads back.";
  command.options = config_options();
  command.uses_config = true;
  command.run = [](const ParsedArgs&, CommandContext& context) {
    runtime::Config config = context.config;
    config.run.dir = config.run_dir();
    std::cout << runtime::to_yaml(config);
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
