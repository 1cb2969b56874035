#include <unistd.h>
#include <filesystem>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/mpi_world.h"
#include "runtime/threads.h"
#include "tools/cluster_bench.h"
#include "tools/data_bench.h"
#include "tools/dataset_writer.h"
#include "tools/synth.h"
#include "tools/train_bench.h"

namespace missrec::cli {

CommandSpec bench_data_command() {
  CommandSpec command;
  command.name = "bench data";
  command.summary =
      "Measures the loader as one rank of many: samples/s it assembles (uniform epoch "
      "order, the rank's share gathered from HDF5, both views, interest ids), the "
      "share's gather time against a plain sequential read of the same data, and peak "
      "memory. Prints one JSON line. Without --data it synthesises a pretraining dataset.";
  command.options = {
      {"data", "DIR", "dataset to read (default: a synthetic pretrain preset, scale 0.3)", false},
      {"batch", "B", "global batch: samples per step over all ranks", false, false,
       std::to_string(tools::DataBenchOptions{}.global_batch)},
      {"ranks", "P", "ranks sharing each global batch; rank 0 is measured", false, false,
       std::to_string(tools::DataBenchOptions{}.world_size)},
      {"batches", "N", "stop after N batches (0: one epoch)", false, false,
       std::to_string(tools::DataBenchOptions{}.max_batches)},
  };
  command.check_args = [](const ParsedArgs& args) {
    const int64_t batch = args.integer("batch");
    const int64_t ranks = args.integer("ranks");
    if (batch < 1) runtime::throw_input_error("--batch", "expected >= 1");
    if (ranks < 1 || batch % ranks != 0) {
      runtime::throw_input_error("--ranks", "expected >= 1 and a divisor of --batch " + std::to_string(batch));
    }
    if (args.integer("batches") < 0) runtime::throw_input_error("--batches", "expected >= 0");
  };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    tools::DataBenchOptions options;
    options.global_batch = args.integer("batch");
    options.world_size = static_cast<int>(args.integer("ranks"));
    options.max_batches = args.integer("batches");
    std::string scratch;
    if (args.has("data")) {
      options.dataset_dir = args.value("data");
    } else {
      scratch =
          (std::filesystem::temp_directory_path() / ("missrec_bench_data_" + std::to_string(::getpid()))).string();
      tools::SynthOptions synth;
      synth.preset = "pretrain";
      synth.scale = 0.3;
      tools::synthesize(synth, scratch);
      options.dataset_dir = scratch;
    }
    std::string json;
    try {
      json = tools::run_data_bench(options);
    } catch (...) {
      if (!scratch.empty()) tools::remove_tree(scratch);
      throw;
    }
    if (!scratch.empty()) tools::remove_tree(scratch);
    std::cout << json << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

CommandSpec bench_cluster_command() {
  CommandSpec command;
  command.name = "bench cluster";
  command.summary =
      "Times the distributed DPC-KNN on Gaussian-blob tokens (default N=16000, D=300, "
      "k=10% of N, K=2% of N) and, on one rank, the full-matrix LibTorch implementation "
      "(cdist -> topk -> masked min) on the same tokens; peak memory of each; whether "
      "they agree. With cluster.method=sampled, the sampled method against the exact one "
      "(time, adjusted Rand index, shared centers). One JSON line. Runs under mpirun too "
      "(ours only).";
  command.options = config_options();
  command.options.push_back({"n", "N", "tokens", false, false, std::to_string(tools::ClusterBenchOptions{}.n)});
  command.options.push_back(
      {"dim", "D", "token width", false, false, std::to_string(tools::ClusterBenchOptions{}.dim)});
  command.options.push_back({"no-baseline", "", "skip the full-matrix baseline", false});
  command.options.push_back({"no-exact", "", "sampled method: skip the exact comparison", false});
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = [](const ParsedArgs& args) {
    if (args.integer("n") < 2) runtime::throw_input_error("--n", "expected >= 2");
    if (args.integer("dim") < 1) runtime::throw_input_error("--dim", "expected >= 1");
  };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    tools::ClusterBenchOptions options;
    options.n = args.integer("n");
    options.dim = args.integer("dim");
    options.knn_ratio = context.config.cluster.knn_local_ratio;
    options.cluster_ratio = context.config.cluster.interest_ratio;
    options.memory_mb = context.config.cluster.memory_mb;
    options.with_full_matrix = !args.has("no-baseline");
    options.method = context.config.cluster.method;
    options.sample_size = context.config.cluster.sample_size;
    options.with_exact = !args.has("no-exact");
    auto comm = make_comm(context);
    const std::string json = tools::run_cluster_bench(options, *comm);
    if (comm->rank() == 0) std::cout << json << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

CommandSpec bench_train_command() {
  CommandSpec command;
  command.name = "bench train";
  command.summary =
      "Times the pretraining step of the full model (defaults, 20,000 items) on "
      "synthetic batches: samples/s, the step-time split, peak RSS, the model FLOP rate "
      "against the machine's single large-GEMM rate. --lengths demo draws the demo "
      "preset's history lengths, full makes every history 50 long. Runs under mpirun "
      "(the global batch is split over the ranks). One JSON line.";
  command.options = config_options();
  command.options.push_back(
      {"batch", "B", "global batch", false, false, std::to_string(tools::TrainBenchOptions{}.batch)});
  command.options.push_back(
      {"lengths", "demo|full", "history lengths", false, false, tools::TrainBenchOptions{}.lengths});
  command.options.push_back({"steps", "N", "timed steps after 2 warm-up steps", false, false,
                             std::to_string(tools::TrainBenchOptions{}.steps)});
  command.options.push_back({"threads", "T", "CPU threads per rank (default: run.threads)", false});
  command.options.push_back({"padded", "", "time the padded computation instead of the length-aware one", false});
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = [](const ParsedArgs& args) {
    if (args.integer("batch") < 1) runtime::throw_input_error("--batch", "expected >= 1");
    if (args.integer("steps") < 1) runtime::throw_input_error("--steps", "expected >= 1");
    if (args.has("threads") && args.integer("threads") < 1) runtime::throw_input_error("--threads", "expected >= 1");
    const std::string lengths = args.value("lengths");
    if (lengths != "demo" && lengths != "full") {
      runtime::throw_input_error("--lengths", "expected demo or full, got '" + lengths + "'");
    }
  };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    auto comm = make_comm(context);
    if (args.has("threads")) runtime::configure_threads(args.integer("threads"), context.world->local_size());
    tools::TrainBenchOptions options;
    options.batch = args.integer("batch");
    options.lengths = args.value("lengths");
    options.steps = args.integer("steps");
    options.padded = args.has("padded");
    options.precision = context.config.train.precision;
    options.seed = static_cast<uint64_t>(context.config.run.seed);
    if (options.batch % comm->size() != 0) {
      runtime::throw_input_error("--batch", std::to_string(options.batch) + " does not split evenly over " +
                                                std::to_string(comm->size()) + " ranks");
    }
    const std::string json = tools::run_train_bench(options, *comm);
    if (comm->rank() == 0) std::cout << json << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
