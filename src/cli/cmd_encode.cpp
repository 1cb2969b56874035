#include <torch/cuda.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/serving_model.h"
#include "data/dataset.h"
#include "data/h5_file.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/file_io.h"

namespace missrec::cli {

CommandSpec encode_command() {
  CommandSpec command;
  command.name = "encode";
  command.summary =
      "Sequence vectors z of an export (native or safetensors) for the first samples of a "
      "split in the epoch-0 order, with the inputs that produced them: /item_seq, "
      "/item_length, /interest_seq, /text, /image (gathered features), /z, /reg and /scores "
      "(every item 1..N's score, divided by the temperature). For checking "
      "an export against another implementation and for inspecting user vectors.";
  command.options = config_options();
  command.options.insert(command.options.end(), {
                                                    {"model", "FILE", "native export", false, true, ""},
                                                    {"data", "DIR", "dataset directory", false, true, ""},
                                                    {"split", "NAME", "train, valid or test", false, false, "train"},
                                                    {"samples", "N", "how many samples", false, false, "64"},
                                                    {"out", "FILE", "output HDF5 file", false, true, ""},
                                                });
  command.uses_config = true;
  command.check_args = [](const ParsedArgs& args) {
    check_split_arg(args);
    if (args.integer("samples") < 1) runtime::throw_input_error("--samples", "expected at least 1");
  };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    torch::NoGradGuard no_grad;
    const at::Device device =
        runtime::select_device(context.config.run.device, 0, static_cast<int>(torch::cuda::device_count()));
    ServingModel serving =
        load_serving_model(args.value("model"), args.value("data"), args.value("split"), context.config, device);
    const train::ModelExport& exported = serving.exported;
    const data::Dataset& dataset = serving.dataset;
    model::MissRec& model = serving.model;
    const model::ItemFeatures& features = serving.features;

    data::LoaderOptions options;
    options.split = args.value("split");
    options.global_batch = args.integer("samples");
    options.prefetch = 1;
    options.batch.max_seq_len = exported.config.model.max_seq_len;
    options.batch.seed = static_cast<uint64_t>(exported.config.run.seed);
    data::Loader loader(dataset, options);
    loader.start_epoch(0, 0, std::make_shared<data::InterestState>(exported.interests));
    const data::Batch batch = *loader.next();

    model::SequenceInput input;
    input.item_seq = batch.view.item_seq.to(device);
    input.item_length = batch.view.item_length.to(device);
    input.interest_seq = batch.view.interest_seq.to(device);
    const model::SequenceOutput output =
        model->encode(input, features, exported.interests.interest_embeddings.to(device));
    const torch::Tensor scores =
        model->all_item_scores(output.z, model->adapt_items({torch::arange(0, dataset.total_items() + 1)}, features));
    const auto host = [](const at::Tensor& tensor) { return tensor.to(at::kCPU, at::kFloat).contiguous(); };

    const std::string out = args.value("out");
    runtime::write_staged(out, [&](const std::string& staging) {
      data::H5File file = data::H5File::create(staging);
      file.write_tensor("/item_seq", batch.view.item_seq);
      file.write_tensor("/item_length", batch.view.item_length);
      file.write_tensor("/interest_seq", batch.view.interest_seq);
      file.write_tensor("/text", host(model::gather_features(features.text, input.item_seq)));
      file.write_tensor("/image", host(model::gather_features(features.image, input.item_seq)));
      file.write_tensor("/z", host(output.z));
      file.write_tensor("/reg", host(output.reg));
      file.write_tensor("/scores", host(scores.narrow(1, 1, dataset.total_items())));
      file.flush();
    });
    std::cout << "encoded " << input.item_seq.size(0) << " samples of " << options.split << " to " << out << std::endl;
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
