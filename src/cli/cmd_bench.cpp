#include <filesystem>
#include <iostream>
#include <unistd.h>

#include "cli/commands.h"
#include "data/data_bench.h"
#include "data/dataset_writer.h"
#include "data/synth.h"
#include "runtime/error.h"

namespace missrec::cli {

CommandSpec bench_data_command() {
  CommandSpec command;
  command.name = "bench data";
  command.summary =
      "Measures the loader: batches/s assembled (both views, interest ids) at a per-rank "
      "batch, and its chunked HDF5 read rate against a plain sequential read of the same "
      "data. Prints one JSON line. Without --data it synthesises a pretraining dataset.";
  command.options = {
      {"data", "DIR", "dataset to read (default: a synthetic pretrain preset, scale 0.3)", false},
      {"batch", "B", "samples per batch (default 4096)", false},
      {"batches", "N", "stop after N batches (default: one epoch)", false},
      {"chunk", "C", "samples per shuffle chunk (default 256)", false},
  };
  command.check_args = [](const ParsedArgs& args) {
    if (args.integer("batch", 4096) < 1) runtime::throw_input_error("--batch", "expected >= 1");
    if (args.integer("batches", 0) < 0) runtime::throw_input_error("--batches", "expected >= 0");
    if (args.integer("chunk", 256) < 1) runtime::throw_input_error("--chunk", "expected >= 1");
  };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    data::DataBenchOptions options;
    options.batch_size = args.integer("batch", 4096);
    options.max_batches = args.integer("batches", 0);
    options.chunk_size = args.integer("chunk", 256);
    std::string scratch;
    if (args.has("data")) {
      options.dataset_dir = args.value("data");
    } else {
      scratch = (std::filesystem::temp_directory_path() /
                 ("missrec_bench_data_" + std::to_string(::getpid())))
                    .string();
      data::SynthOptions synth;
      synth.preset = "pretrain";
      synth.scale = 0.3;
      data::synthesize(synth, scratch);
      options.dataset_dir = scratch;
    }
    std::string json;
    try {
      json = data::run_data_bench(options);
    } catch (...) {
      if (!scratch.empty()) data::remove_tree(scratch);
      throw;
    }
    if (!scratch.empty()) data::remove_tree(scratch);
    std::cout << json << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
