#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/serving_model.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "train/recommendation.h"

namespace missrec::cli {

namespace {

std::vector<OptionSpec> serving_options(const std::string& out_help) {
  std::vector<OptionSpec> options = config_options();
  options.insert(options.end(), {
                                    {"model", "FILE", "export (native or safetensors)", false, true, ""},
                                    {"data", "DIR", "dataset", false, true, ""},
                                    {"split", "train|valid|test", "whose samples (users)", false, false, "test"},
                                    {"out", "PATH", out_help, false, true, ""},
                                });
  return options;
}

train::RecommendOptions recommend_options(const ParsedArgs& args) {
  train::RecommendOptions options;
  options.split = args.value("split");
  if (args.has("topk")) options.topk = args.integer("topk");
  options.exclude_history = args.has("exclude-history");
  return options;
}

}  // namespace

CommandSpec recommend_command() {
  CommandSpec command;
  command.name = "recommend";
  command.summary =
      "Top-K items for every sample (user) of a split, ranked over all items of the dataset "
      "as evaluate ranks them, users sharded over the ranks (any rank count writes the same "
      "file). Writes HDF5: /sample, /user, /target [U], /items [U, K] (global item ids, best "
      "first), /scores [U, K]. docs/usage.md describes the file.";
  command.options = serving_options("output HDF5 file");
  command.options.push_back({"topk", "K", "items per user", false, false, "10"});
  command.options.push_back({"exclude-history", "", "never recommend an item of the user's history"});
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = [](const ParsedArgs& args) {
    check_split_arg(args);
    if (args.integer("topk") < 1) runtime::throw_input_error("--topk", "expected at least 1");
  };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    auto comm = make_comm(context);
    const train::RecommendOptions options = recommend_options(args);
    ServingModel serving =
        load_serving_model(args.value("model"), args.value("data"), options.split, context.config, comm->device());
    const int64_t items = serving.dataset.total_items();
    if (options.topk > items) {
      runtime::throw_input_error("--topk", "expected at most the dataset's " + std::to_string(items) + " items");
    }
    const std::string out = args.value("out");
    train::write_recommendations(*serving.model, serving.features, serving.exported.interests.placed(comm->device()),
                                 serving.dataset, serving.exported.config.model.max_seq_len, options, *comm, out);
    if (comm->rank() == 0)
      std::cout << "wrote top-" << options.topk << " lists of " << options.split << " to " << out << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

CommandSpec vectors_command() {
  CommandSpec command;
  command.name = "vectors";
  command.summary =
      "Item vectors for the whole catalogue and user vectors z for a split, for an ANN "
      "index or serving, in bounded memory: DIR/vectors.h5 (/items/text, /items/image, "
      "/items/id with item-ID embeddings, /users/z with /users/sample, /users/user, "
      "/users/target), DIR/items.npy and DIR/users.npy (float32). DIR must not exist.";
  command.options = serving_options("output directory (created)");
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = check_split_arg;
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    const std::string out = args.value("out");
    if (std::filesystem::exists(out)) runtime::throw_input_error(out, "already exists (vectors creates it)");
    auto comm = make_comm(context);
    const train::RecommendOptions options = recommend_options(args);
    ServingModel serving =
        load_serving_model(args.value("model"), args.value("data"), options.split, context.config, comm->device());
    train::write_vectors(*serving.model, serving.features, serving.exported.interests.placed(comm->device()),
                         serving.dataset, serving.exported.config.model.max_seq_len, options, *comm, out);
    if (comm->rank() == 0) std::cout << "wrote item and " << options.split << " user vectors to " << out << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
