#pragma once

#include <memory>
#include <vector>

#include "runtime/comm.h"

#include "cli/args.h"

namespace missrec::cli {

// Every subcommand of the missrec executable, in the order `missrec --help` lists them.
const std::vector<CommandSpec>& all_commands();

CommandSpec version_command();
CommandSpec config_show_command();
CommandSpec config_docs_command();
CommandSpec comm_check_command();
CommandSpec data_synth_command();
CommandSpec data_inspect_command();
CommandSpec data_convert_command();
CommandSpec bench_data_command();
CommandSpec bench_cluster_command();
CommandSpec bench_train_command();
CommandSpec check_model_command();
CommandSpec cluster_command();
CommandSpec pretrain_command();
CommandSpec export_command();
CommandSpec encode_command();
CommandSpec finetune_command();
CommandSpec evaluate_command();
CommandSpec recommend_command();
CommandSpec vectors_command();

// Options shared by every command that reads the configuration (uses_config).
std::vector<OptionSpec> config_options();

// --resume latest|DIR of the training commands, and its check.
OptionSpec resume_option();
void check_resume_arg(const ParsedArgs& args);

// The communicator that dist.backend and dist.timeout_s ask for, over the command's world
// (needs_mpi and uses_config commands).
std::unique_ptr<runtime::Communicator> make_comm(const CommandContext& context);

}  // namespace missrec::cli
