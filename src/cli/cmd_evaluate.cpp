#include <iostream>

#include "cli/commands.h"
#include "cli/serving_model.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "train/evaluation.h"

namespace missrec::cli {

CommandSpec evaluate_command() {
  CommandSpec command;
  command.name = "evaluate";
  command.summary =
      "Full-ranking evaluation of an export (native, e.g. a fine-tuning run's best.h5, or "
      "safetensors) on a split: Recall and NDCG at 10, 20 and 50 over all items of the "
      "dataset, users sharded over the ranks (any rank count gives identical numbers). "
      "Prints one JSON line.";
  command.options = config_options();
  command.options.push_back({"checkpoint", "FILE", "export with interest tables", false, true, ""});
  command.options.push_back({"data", "DIR", "dataset", false, true, ""});
  command.options.push_back({"split", "train|valid|test", "which split", false, false, "test"});
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = check_split_arg;
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    auto comm = make_comm(context);
    const std::string split = args.value("split");
    ServingModel serving =
        load_serving_model(args.value("checkpoint"), args.value("data"), split, context.config, comm->device());
    const train::RankingMetrics metrics =
        train::evaluate_split(*serving.model, serving.features, serving.exported.interests.placed(comm->device()),
                              serving.dataset, split, serving.exported.config.model.max_seq_len, *comm);
    if (comm->rank() == 0) std::cout << metrics.json() << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
