#include "cli/serving_model.h"

#include "runtime/error.h"
#include "train/model_setup.h"

namespace missrec::cli {

ServingModel load_serving_model(const std::string& model_path, const std::string& data_dir, const std::string& split,
                                const runtime::Config& config, at::Device device) {
  train::ModelExport exported = train::read_model_export(model_path);
  data::Dataset dataset = data::Dataset::open(data_dir);
  if (dataset.samples(split) == 0) runtime::throw_input_error(data_dir, "has no " + split + " samples");
  model::MissRec model = train::model_of_export(exported, model_path, dataset, device);
  model::ItemFeatures features = train::load_features(dataset, config, device);
  return ServingModel{std::move(exported), std::move(dataset), std::move(model), std::move(features)};
}

void check_split_arg(const ParsedArgs& args) {
  const std::string split = args.value("split");
  if (split != "valid" && split != "test" && split != "train") {
    runtime::throw_input_error("--split", "expected train, valid or test, got '" + split + "'");
  }
}

}  // namespace missrec::cli
