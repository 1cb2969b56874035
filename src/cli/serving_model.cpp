#include "cli/serving_model.h"

#include "runtime/error.h"
#include "train/model_setup.h"

namespace missrec::cli {

ServingModel load_serving_model(const std::string& model_path, const std::string& data_dir, const std::string& split,
                                const runtime::Config& config, at::Device device) {
  ServingModel serving{train::read_model_export(model_path), data::Dataset::open(data_dir)};
  if (serving.dataset.samples(split) == 0) runtime::throw_input_error(data_dir, "has no " + split + " samples");
  serving.model = train::model_of_export(serving.exported, model_path, serving.dataset, device);
  serving.features = train::load_features(serving.dataset, config, device);
  return serving;
}

void check_split_arg(const ParsedArgs& args) {
  const std::string split = args.value("split");
  if (split != "valid" && split != "test" && split != "train") {
    runtime::throw_input_error("--split", "expected train, valid or test, got '" + split + "'");
  }
}

}  // namespace missrec::cli
