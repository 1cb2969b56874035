#include <iostream>

#include "cli/commands.h"
#include "data/dataset.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "train/evaluation.h"
#include "train/export.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"

namespace missrec::cli {

CommandSpec evaluate_command() {
  CommandSpec command;
  command.name = "evaluate";
  command.summary =
      "Full-ranking evaluation of a native export (e.g. a fine-tuning run's "
      "best.h5) on a split: Recall@10/50 and NDCG@10/50 over all items of the dataset, "
      "users sharded over the ranks (np=1 and np=2 give identical numbers). Prints one "
      "JSON line.";
  command.options = config_options();
  command.options.push_back({"checkpoint", "FILE", "native export with interest tables", false, true, ""});
  command.options.push_back({"data", "DIR", "dataset", false, true, ""});
  command.options.push_back({"split", "train|valid|test", "which split", false, false, "test"});
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = [](const ParsedArgs& args) {
    const std::string split = args.value("split");
    if (split != "valid" && split != "test" && split != "train") {
      runtime::throw_input_error("--split", "expected train, valid or test, got '" + split + "'");
    }
  };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    const std::string path = args.value("checkpoint");
    const train::ModelExport exported = train::read_model_export(path);
    const data::Dataset dataset = data::Dataset::open(args.value("data"));
    const std::string split = args.value("split");
    if (dataset.samples(split) == 0) runtime::throw_input_error(args.value("data"), "has no " + split + " samples");
    auto comm = make_comm(context);
    const at::Device device = comm->device();
    model::MissRec model = train::model_of_export(exported, path, dataset, device);
    const model::ItemFeatures features = train::load_features(dataset, context.config, device);
    const train::RankingMetrics metrics = train::evaluate_split(
        *model, features, exported.interests.placed(device), dataset, split, exported.config.model.max_seq_len, *comm);
    if (comm->rank() == 0) std::cout << metrics.json() << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
