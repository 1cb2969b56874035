#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "runtime/error.h"
#include "train/export.h"
#include "train/safetensors_export.h"

namespace missrec::cli {

namespace {

// A checkpoint directory, or a run directory / checkpoints directory whose `latest` is used.
std::string checkpoint_dir_of(const std::string& given) {
  namespace fs = std::filesystem;
  for (const std::string& candidate : {given + "/checkpoints/latest", given + "/latest"}) {
    if (fs::exists(candidate)) return fs::canonical(candidate).string();
  }
  return given;
}

}  // namespace

CommandSpec export_command() {
  CommandSpec command;
  command.name = "export";
  command.summary =
      "Exports a checkpoint: --format pytorch writes a torch.load-able "
      "{state_dict, epoch, config, interests} file; --format safetensors the same tensors "
      "(interest tables as interests.*) with the configuration as metadata; --format native "
      "writes the HDF5 file. `missrec finetune --pretrained`, `evaluate` and `encode` read "
      "native and safetensors exports. --checkpoint also takes a run directory (its "
      "checkpoints/latest) or an export file (a fine-tuning run's best.h5), written again in "
      "--format.";
  command.options = {
      {"checkpoint", "DIR", "checkpoint directory, run directory or export file", false, true, ""},
      {"format", "pytorch|safetensors|native", "output format", false, true, ""},
      {"out", "FILE", "output file", false, true, ""},
  };
  command.check_args = [](const ParsedArgs& args) {
    const std::string format = args.value("format");
    if (format != "pytorch" && format != "safetensors" && format != "native") {
      runtime::throw_input_error("--format", "expected pytorch, safetensors or native, got '" + format + "'");
    }
  };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    const std::string dir = checkpoint_dir_of(args.value("checkpoint"));
    const train::ModelExport model =
        std::filesystem::is_regular_file(dir) ? train::read_model_export(dir) : train::export_from_checkpoint(dir);
    const std::string out = args.value("out");
    if (args.value("format") == "pytorch") {
      train::write_pytorch_export(model, out);
    } else if (args.value("format") == "safetensors") {
      train::write_safetensors_export(model, out);
    } else {
      train::write_native_export(model, out);
    }
    std::cout << "exported " << dir << " (epoch " << model.epoch << ", step " << model.global_step << ") to " << out
              << " (" << args.value("format") << ")" << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
