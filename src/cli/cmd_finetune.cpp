#include "cli/commands.h"
#include "runtime/error.h"
#include "train/finetuner.h"

namespace missrec::cli {

CommandSpec finetune_command() {
  CommandSpec command;
  command.name = "finetune";
  command.summary =
      "Downstream fine-tuning under mpirun or alone: from a pretrained native "
      "export (trm_model and position_embedding frozen) or from scratch; DPC-KNN refresh "
      "each epoch; validation NDCG@10 with early stopping; writes <run.dir>/best.h5, "
      "<run.dir>/test_metrics.json and checkpoints/ (resume with --resume latest). SIGTERM or "
      "SIGUSR1 writes a checkpoint and exits with status 75 (requeue).";
  command.options = config_options();
  command.options.push_back({"data", "DIR", "downstream dataset (default: data.dir)", false});
  command.options.push_back({"pretrained", "FILE",
                             "native export to start from (missrec export --format "
                             "native, or scripts/convert_public_checkpoint.py)",
                             false});
  command.options.push_back(resume_option());
  command.uses_config = true;
  command.needs_mpi = true;
  command.stops_on_signal = true;
  command.check_args = check_resume_arg;
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    train::FinetuneRequest request;
    request.data_dir = args.has("data") ? args.value("data") : context.config.data.dir;
    request.pretrained = args.has("pretrained") ? args.value("pretrained") : "";
    if (args.has("resume")) request.resume = args.value("resume");
    if (request.data_dir.empty()) {
      runtime::throw_input_error("--data", "required (or data.dir in the configuration)");
    }
    auto comm = make_comm(context);
    const int status = train::run_finetuning(context.config, request, *comm);
    comm->synchronize();
    return status;
  };
  return command;
}

}  // namespace missrec::cli
