#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "data/inspect.h"
#include "runtime/error.h"
#include "tools/convert.h"
#include "tools/synth.h"

namespace missrec::cli {

namespace {

tools::SynthOptions synth_options(const ParsedArgs& args) {
  tools::SynthOptions options;
  options.preset = args.value("preset");
  const int64_t seed = args.integer("seed");
  if (seed < 0) runtime::throw_input_error("--seed", "expected a non-negative integer");
  options.seed = static_cast<uint64_t>(seed);
  options.scale = args.real("scale");
  options.feature_dim = args.integer("feature-dim");
  options.interests = args.integer("interests");
  options.max_seq_len = args.integer("max-seq-len");
  if (options.max_seq_len < 1) runtime::throw_input_error("--max-seq-len", "expected >= 1");
  options.half_features = args.has("float16");
  return options;
}

}  // namespace

CommandSpec data_synth_command() {
  CommandSpec command;
  command.name = "data synth";
  command.summary =
      "Writes a synthetic dataset that looks like the public MISSRec data. "
      "demo: OUT/pretrain (five domains) and OUT/downstream (one domain, train/valid/test); "
      "pretrain: five larger domains; downstream: one domain.";
  command.options = {
      {"preset", "demo|pretrain|downstream", "what to generate", false, false, tools::SynthOptions{}.preset},
      {"out", "DIR", "output directory (must not exist)", false, true},
      {"seed", "S", "seed", false, false, std::to_string(tools::SynthOptions{}.seed)},
      {"scale", "F", "multiply item and user counts", false, false, "1"},
      {"feature-dim", "D", "text and image feature width", false, false,
       std::to_string(tools::SynthOptions{}.feature_dim)},
      {"interests", "N", "latent interests shared by all domains", false, false,
       std::to_string(tools::SynthOptions{}.interests)},
      {"max-seq-len", "L", "longest history kept", false, false, std::to_string(tools::SynthOptions{}.max_seq_len)},
      {"float16", "", "store features as float16", false},
  };
  command.check_args = [](const ParsedArgs& args) { synth_options(args); };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    const tools::SynthReport report = tools::synthesize(synth_options(args), args.value("out"));
    std::cout << "wrote " << args.value("out") << ": " << report.domains << " domains, " << report.items << " items, "
              << report.samples << " samples, mean history " << report.mean_history << "\n";
    return runtime::kExitOk;
  };
  return command;
}

CommandSpec data_inspect_command() {
  CommandSpec command;
  command.name = "data inspect";
  command.summary =
      "Validates a dataset completely (structure, samples, every feature value) and prints "
      "per-domain items, samples per split, missing text/image rates, history lengths and "
      "file sizes.";
  command.positional_usage = "DIR";
  command.positional_count = 1;
  command.run = [](const ParsedArgs& args, CommandContext&) {
    std::cout << data::inspect_dataset(args.positionals()[0]);
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli

namespace missrec::cli {

CommandSpec data_convert_command() {
  CommandSpec command;
  command.name = "data convert";
  command.summary =
      "Converts the public MISSRec/UniSRec release (downstream or pretraining layout) "
      "into the HDF5 format, keeping every row and item; prints the counts.";
  command.options = {
      {"from-missrec", "SRC", "directory of the public release files", false, true},
      {"out", "DST", "output dataset directory (must not exist)", false, true},
      {"dataset", "NAME", "<ds> when SRC holds several", false},
      {"feature-dim", "D", "width of the raw float32 feature files", false, false,
       std::to_string(tools::ConvertOptions{}.feature_dim)},
  };
  command.check_args = [](const ParsedArgs& args) { args.integer("feature-dim"); };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    tools::ConvertOptions options;
    options.source = args.value("from-missrec");
    options.out = args.value("out");
    if (args.has("dataset")) options.dataset = args.value("dataset");
    options.feature_dim = args.integer("feature-dim");
    const tools::ConvertReport report = tools::convert_missrec(options);
    std::cout << "converted " << report.layout << " dataset into " << options.out << "\n" << report.summary;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
