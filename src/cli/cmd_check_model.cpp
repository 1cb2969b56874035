#include <cstdio>

#include <torch/cuda.h>

#include "cli/commands.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "tools/fixture.h"

namespace missrec::cli {

CommandSpec check_model_command() {
  CommandSpec command;
  command.name = "check-model";
  command.summary =
      "Runs the model on a parity fixture (the layout of tests/fixtures) as its training "
      "stage computes (pretraining: z, z', both regularisers, the three losses; fine-tuning: "
      "z, the regulariser, every item's score, the loss), with every gradient, and prints "
      "the largest relative error of each. Exit 0 when all are within the fixture README's "
      "tolerances, 1 otherwise.";
  command.options = {{"fixture", "FILE", "HDF5 fixture file", false, true, ""},
                     {"device", "cpu|cuda", "where the model runs (cuda: GPU 0)", false, false, "cpu"}};
  command.check_args = [](const ParsedArgs& args) {
    const std::string device = args.value("device");
    if (device != "cpu" && device != "cuda") {
      runtime::throw_input_error("--device", "expected cpu or cuda, got '" + device + "'");
    }
  };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    const int visible_gpus = static_cast<int>(torch::cuda::device_count());
    if (args.value("device") == "cuda" && visible_gpus == 0) {
      runtime::throw_input_error("--device", "cuda requested but LibTorch sees no CUDA device");
    }
    const at::Device device = runtime::select_device(
        runtime::parse_choice<runtime::DeviceChoice>(args.value("device"), "--device"), /*local_rank=*/0, visible_gpus);
    const tools::ModelFixture fixture = tools::load_model_fixture(args.value("fixture"));
    const std::vector<tools::ParityLine> lines = tools::check_model_parity(fixture, device);
    int failed = 0;
    double worst_output = 0.0;
    double worst_gradient = 0.0;
    for (const tools::ParityLine& line : lines) {
      std::printf("%-4s %-70s %10.3e  (tol %.0e)\n", line.passed() ? "ok" : "FAIL", line.name.c_str(), line.error,
                  line.tolerance);
      failed += line.passed() ? 0 : 1;
      double& worst = line.name.rfind("grad ", 0) == 0 ? worst_gradient : worst_output;
      worst = std::max(worst, line.error);
    }
    std::printf("%zu checks, %d failed; largest error: outputs %.3e, gradients %.3e\n", lines.size(), failed,
                worst_output, worst_gradient);
    return failed == 0 ? runtime::kExitOk : runtime::kExitFailure;
  };
  return command;
}

}  // namespace missrec::cli
