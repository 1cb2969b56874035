#include "cli/commands.h"
#include "runtime/error.h"
#include "train/pretrainer.h"

namespace missrec::cli {

CommandSpec pretrain_command() {
  CommandSpec command;
  command.name = "pretrain";
  command.summary =
      "Distributed pretraining: launch with mpirun or srun, one rank per GPU (or "
      "CPU). Each epoch refreshes the interests with DPC-KNN, then trains on the mixed "
      "domains with global in-batch negatives and one fused gradient allreduce per step. "
      "Writes metrics.jsonl and checkpoints/ under run.dir. SIGTERM or SIGUSR1 writes a "
      "checkpoint and exits with status 75 (requeue).";
  command.options = config_options();
  command.options.push_back(resume_option());
  command.uses_config = true;
  command.needs_mpi = true;
  command.stops_on_signal = true;
  command.check_args = check_resume_arg;
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    if (context.config.data.dir.empty()) {
      runtime::throw_input_error("data.dir", "required: set it in the config or with --set data.dir=DIR");
    }
    auto comm = make_comm(context);
    train::PretrainRequest request;
    if (args.has("resume")) request.resume = args.value("resume");
    const int status = train::run_pretraining(context.config, request, *comm);
    comm->synchronize();
    return status;
  };
  return command;
}

}  // namespace missrec::cli
