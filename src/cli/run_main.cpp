#include "cli/run_main.h"

#include <glog/logging.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "runtime/abort.h"
#include "runtime/blas_environment.h"
#include "runtime/config_yaml.h"
#include "runtime/error.h"
#include "runtime/heap_settings.h"
#include "runtime/logging.h"
#include "runtime/mpi_world.h"
#include "runtime/stop_request.h"
#include "runtime/suggest.h"
#include "runtime/tensor_block_cache.h"
#include "runtime/threads.h"

namespace missrec::cli {

namespace {

std::vector<std::string> words_of(const std::string& name) {
  std::istringstream in(name);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::string usage() {
  std::ostringstream out;
  out << "usage: missrec <command> [options]    (missrec <command> --help for details)\n\n"
         "Distributed pretraining of the MISSRec multi-modal sequential recommender.\n\n"
         "commands:\n";
  for (const CommandSpec& command : all_commands()) {
    std::string name = "  " + command.name;
    if (name.size() < 16) name.resize(16, ' ');
    const size_t sentence_end = command.summary.find(". ");
    const std::string summary =
        sentence_end == std::string::npos ? command.summary : command.summary.substr(0, sentence_end + 1);
    out << name << "  " << summary << "\n";
  }
  out << "\nexit status: 0 success, 2 bad input (one line on stderr), 1 other failures\n";
  return out.str();
}

// The command named by the leading words of args (longest match), or throws.
const CommandSpec& find_command(const std::vector<std::string>& args, size_t* words_used) {
  const CommandSpec* best = nullptr;
  for (const CommandSpec& command : all_commands()) {
    const std::vector<std::string> words = words_of(command.name);
    if (words.size() > args.size()) continue;
    if (!std::equal(words.begin(), words.end(), args.begin())) continue;
    if (best == nullptr || words.size() > *words_used) {
      best = &command;
      *words_used = words.size();
    }
  }
  if (best != nullptr) return *best;
  std::vector<std::string> names;
  std::vector<std::string> subcommands;
  for (const CommandSpec& command : all_commands()) {
    names.push_back(command.name);
    const std::vector<std::string> words = words_of(command.name);
    if (words.size() > 1 && words[0] == args[0]) subcommands.push_back(words[1]);
    if (words.size() > 1) names.push_back(words[0]);
  }
  if (!subcommands.empty()) {
    std::string list;
    for (const std::string& sub : subcommands) list += (list.empty() ? "" : ", ") + sub;
    const std::string given =
        args.size() > 1 ? "unknown subcommand '" + args[1] + "'" : std::string("missing subcommand");
    runtime::throw_input_error("missrec " + args[0], given + "; expected one of: " + list);
  }
  runtime::throw_input_error(
      "missrec", "unknown command '" + args[0] + "'" + runtime::did_you_mean(args[0], names) + "; see missrec --help");
}

// The rank the launcher assigned, before MPI starts (-1 when not launched by one).
int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return -1;
}

// Bad input found before MPI starts: every rank finds the same problem and rank 0
// reports it. The other ranks leave after rank 0, because under srun --kill-on-bad-exit
// the first rank to exit gets the others a SIGTERM, and a rank ended by a signal turns
// the job's status into 143 instead of 2 (and, were it rank 0, loses the message). So
// they catch SIGTERM and wait for it; one not torn down within 2 s has a problem of its
// own and reports it.
void report_input_error_before_mpi(const std::string& message) {
  const int rank = launcher_rank();
  if (rank <= 0) {
    std::cerr << "missrec: error: " << message << std::endl;
    return;
  }
  runtime::install_stop_handlers();
  for (int waited_ms = 0; waited_ms < 2000 && !runtime::stop_requested(); waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!runtime::stop_requested()) {
    std::cerr << "missrec: error (rank " << rank << "): " << message << std::endl;
  }
}

int run_without_mpi(const CommandSpec& command, const ParsedArgs& args, CommandContext& context) {
  runtime::init_logging(context.argv0, 0, 1, runtime::host_name());
  if (command.uses_config) runtime::configure_threads(context.config.run.threads, 1);
  try {
    return command.run(args, context);
  } catch (const runtime::InputError& e) {
    std::cerr << "missrec: error: " << e.what() << std::endl;
    return runtime::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "missrec: failed: " << e.what() << std::endl;
    return runtime::kExitFailure;
  }
}

int run_with_mpi(const CommandSpec& command, const ParsedArgs& args, CommandContext& context, int* argc, char*** argv) {
  runtime::MpiWorld world(argc, argv);
  runtime::init_logging(context.argv0, world.rank(), world.size(), world.host());
  context.world = &world;
  if (command.uses_config) {
    const int threads = runtime::configure_threads(context.config.run.threads, world.local_size());
    LOG(INFO) << world.size() << " ranks (" << world.local_size() << " on this node), " << threads
              << " CPU threads per rank; on " << world.placement();
    const std::string missing = runtime::missing_blas_settings();
    if (!missing.empty() && world.rank() == 0) LOG(WARNING) << missing;
  }
  int status = runtime::kExitOk;
  try {
    status = command.run(args, context);
  } catch (const runtime::InputError& e) {
    LOG(ERROR) << "error: " << e.what();
    // Other ranks may already wait in a collective: take the whole job down.
    if (world.size() > 1) runtime::abort_job(runtime::kExitBadInput);
    status = runtime::kExitBadInput;
  } catch (const std::exception& e) {
    LOG(ERROR) << "fatal: " << command.name << " failed on rank " << world.rank() << " (" << world.host()
               << "): " << e.what();
    runtime::abort_job(runtime::kExitFailure);
  }
  context.world = nullptr;
  world.finalize();
  return status;
}

}  // namespace

int run_main(int argc, char** argv) {
  runtime::keep_freed_memory();
  runtime::install_tensor_block_cache();
  runtime::install_terminate_handler();
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << usage();
    return runtime::kExitBadInput;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << usage();
    return runtime::kExitOk;
  }
  CommandContext context;
  context.argv0 = argv[0];
  size_t words_used = 0;
  const CommandSpec* command = nullptr;
  ParsedArgs parsed;
  try {
    command = &find_command(args, &words_used);
    const std::vector<std::string> rest(args.begin() + words_used, args.end());
    for (const std::string& arg : rest) {
      if (arg == "--help" || arg == "-h") {
        std::cout << command_help(*command);
        return runtime::kExitOk;
      }
    }
    parsed = parse_args(*command, rest);
    // Every rank reads the same files and flags, so every rank finds the same problem
    // here, before MPI or any heavy work starts; rank 0 reports it.
    if (command->uses_config) {
      context.config = runtime::load_config(parsed.has("config") ? parsed.value("config") : "", parsed.values("set"));
    }
    if (command->check_args) command->check_args(parsed);
  } catch (const runtime::InputError& e) {
    report_input_error_before_mpi(e.what());
    return runtime::kExitBadInput;
  }
  if (command->stops_on_signal) runtime::install_stop_handlers();
  if (!command->needs_mpi) return run_without_mpi(*command, parsed, context);
  return run_with_mpi(*command, parsed, context, &argc, &argv);
}

}  // namespace missrec::cli
