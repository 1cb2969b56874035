#include "cli/commands.h"

#include <glog/logging.h>

#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/mpi_world.h"

namespace missrec::cli {

const std::vector<CommandSpec>& all_commands() {
  static const std::vector<CommandSpec> commands = {
      version_command(),    config_show_command(),   config_docs_command(),  comm_check_command(),
      data_synth_command(), data_inspect_command(),  data_convert_command(), check_model_command(),
      cluster_command(),    pretrain_command(),      export_command(),       encode_command(),
      finetune_command(),   evaluate_command(),      recommend_command(),    vectors_command(),
      bench_data_command(), bench_cluster_command(), bench_train_command(),
  };
  return commands;
}

OptionSpec resume_option() {
  return {"resume", "latest|DIR", "continue from the newest valid checkpoint of run.dir, or from DIR", false};
}

void check_resume_arg(const ParsedArgs& args) {
  if (args.has("resume") && args.value("resume").empty()) {
    runtime::throw_input_error("--resume", "expected 'latest' or a checkpoint directory");
  }
}

std::vector<OptionSpec> config_options() {
  return {
      {"config", "FILE", "YAML configuration (defaults when absent)", false},
      {"set", "SECTION.KEY=VALUE", "override one configuration key", true},
  };
}

std::unique_ptr<runtime::Communicator> make_comm(const CommandContext& context) {
  CHECK(context.world != nullptr) << "make_comm needs a command with needs_mpi";
  const at::Device device = runtime::select_device(context.config.run.device, *context.world);
  return runtime::make_communicator(context.config.dist.backend, *context.world, context.config.dist.timeout_s, device);
}

}  // namespace missrec::cli
