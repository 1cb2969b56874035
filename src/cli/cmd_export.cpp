#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "runtime/error.h"
#include "train/export.h"

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
      "{state_dict, epoch, config, interests} file; --format native writes the HDF5 file "
      "`missrec finetune` and `missrec encode` read. --checkpoint also takes a run "
      "directory (its checkpoints/latest) or a native export file (a fine-tuning run's "
      "best.h5, written again in --format).";
  command.options = {
      {"checkpoint", "DIR", "checkpoint directory, run directory or native export file", false, true, ""},
      {"format", "pytorch|native", "output format", false, true, ""},
      {"out", "FILE", "output file", false, true, ""},
  };
  command.check_args = [](const ParsedArgs& args) {
    const std::string format = args.value("format");
    if (format != "pytorch" && format != "native") {
      runtime::throw_input_error("--format", "expected pytorch or native, got '" + format + "'");
    }
  };
  command.run = [](const ParsedArgs& args, CommandContext&) {
    const std::string dir = checkpoint_dir_of(args.value("checkpoint"));
    const train::ModelExport model =
        std::filesystem::is_regular_file(dir) ? train::read_native_export(dir) : train::export_from_checkpoint(dir);
    const std::string out = args.value("out");
    if (args.value("format") == "pytorch") {
      train::write_pytorch_export(model, out);
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
