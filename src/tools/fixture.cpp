#include "tools/fixture.h"

#include <algorithm>

#include "data/h5_file.h"
#include "runtime/error.h"

namespace missrec::tools {

using namespace missrec::model;  // NOLINT: this tool works on model's types

namespace {

constexpr double kOutputRtol = 1e-4;
constexpr double kOutputAtol = 1e-5;
constexpr double kGradientRtol = 1e-3;

int64_t int_config(const data::H5File& file, const std::string& name) {
  return static_cast<int64_t>(file.attribute<double>("/config", name));
}

// Elementwise |a-b| <= atol + rtol|b| reported as max |a-b| / (|b| + atol/rtol) <= rtol.
ParityLine compare_output(const std::string& name, const torch::Tensor& actual, const torch::Tensor& expected) {
  ParityLine line{name, 0.0, kOutputRtol};
  const torch::Tensor a = actual.detach().to(torch::kCPU, torch::kDouble).reshape(expected.sizes());
  const torch::Tensor b = expected.to(torch::kDouble);
  line.error = ((a - b).abs() / (b.abs() + kOutputAtol / kOutputRtol)).max().item<double>();
  return line;
}

// Gradients: max |a-b| relative to the largest |b| of the tensor.
ParityLine compare_gradient(const std::string& name, const torch::Tensor& actual, const torch::Tensor& expected) {
  ParityLine line{"grad " + name, 0.0, kGradientRtol};
  if (!actual.defined()) {
    line.error = 1e30;
    return line;
  }
  const torch::Tensor a = actual.to(torch::kCPU, torch::kDouble);
  const torch::Tensor b = expected.to(torch::kDouble);
  const double scale = std::max(b.abs().max().item<double>(), 1e-30);
  line.error = (a - b).abs().max().item<double>() / scale;
  return line;
}

}  // namespace

ModelFixture load_model_fixture(const std::string& path) {
  const data::H5File file = data::H5File::open_read(path);
  ModelFixture fixture;
  ModelConfig& config = fixture.config;
  config.hidden_size = int_config(file, "hidden_size");
  config.n_heads = int_config(file, "n_heads");
  config.n_layers = int_config(file, "n_layers");
  config.inner_size = int_config(file, "inner_size");
  config.max_seq_len = int_config(file, "MAX_ITEM_LIST_LENGTH");
  config.layer_norm_eps = file.attribute<double>("/config", "layer_norm_eps");
  config.hidden_act = runtime::parse_choice<runtime::Activation>(file.attribute<std::string>("/config", "hidden_act"),
                                                                 path + ": /config hidden_act");
  config.temperature = file.attribute<double>("/config", "temperature");
  config.lambda = file.attribute<double>("/config", "lambda");
  config.gamma = file.attribute<double>("/config", "gamma");
  config.text_dim = int_config(file, "plm_size");
  config.image_dim = int_config(file, "img_size");
  config.dropout = 0.0;
  config.attn_dropout = 0.0;
  if (file.has_attribute("/config", "train_stage")) {
    const std::string stage = file.attribute<std::string>("/config", "train_stage");
    if (stage == "inductive_ft") {
      fixture.stage = FixtureStage::kInductive;
    } else if (stage == "transductive_ft") {
      fixture.stage = FixtureStage::kTransductive;
    } else if (stage != "pretrain") {
      runtime::throw_input_error(path + ": /config train_stage",
                                 "expected pretrain, inductive_ft or transductive_ft, got '" + stage + "'");
    }
  }
  for (const std::string& name : file.list("/weights")) {
    fixture.weights[name] = file.read_tensor("/weights/" + name);
  }
  for (const std::string& name : file.list("/expected_grad")) {
    fixture.expected_grad[name] = file.read_tensor("/expected_grad/" + name);
  }
  for (const std::string& name : file.list("/expected")) {
    fixture.expected[name] = file.read_tensor("/expected/" + name);
  }
  fixture.features.text = file.read_tensor("/tables/text");
  fixture.features.image = file.read_tensor("/tables/image");
  if (file.exists("/tables/text_aug")) fixture.features.text_aug = file.read_tensor("/tables/text_aug");
  fixture.interest_embeddings = file.read_tensor("/tables/interest_embeddings");
  fixture.view.item_seq = file.read_tensor("/batch/item_seq");
  fixture.view.item_length = file.read_tensor("/batch/item_length");
  fixture.view.interest_seq = file.read_tensor("/batch/interest_seq");
  fixture.pos_item = file.read_tensor("/batch/pos_item");
  std::vector<std::string> required = {"seq_output", "interest_reg", "loss_total", "scores"};
  if (fixture.stage == FixtureStage::kPretrain) {
    fixture.aug.item_seq = file.read_tensor("/batch/item_seq_aug");
    fixture.aug.item_length = file.read_tensor("/batch/item_length_aug");
    fixture.aug.interest_seq = file.read_tensor("/batch/interest_seq_aug");
    // The fixtures' augmented view is an item drop, whose text the public code reads
    // from the word-drop table at every position.
    if (fixture.features.text_aug.defined()) fixture.aug.text_aug_mask = fixture.aug.item_seq.ne(0);
    required = {"seq_output",    "seq_output_aug", "interest_reg", "interest_reg_aug",
                "loss_seq_item", "loss_seq_seq",   "loss_total"};
  }
  if (fixture.stage == FixtureStage::kTransductive) config.n_items = fixture.features.text.size(0) - 1;
  for (const std::string& name : required) {
    if (fixture.expected.count(name) == 0) {
      runtime::throw_input_error(path + ": /expected/" + name, "missing dataset");
    }
  }
  return fixture;
}

namespace {

torch::Tensor on(const torch::Tensor& tensor, at::Device device) {
  return tensor.defined() ? tensor.to(device) : tensor;
}

SequenceInput on(const SequenceInput& input, at::Device device) {
  SequenceInput moved;
  moved.item_seq = on(input.item_seq, device);
  moved.item_length = on(input.item_length, device);
  moved.interest_seq = on(input.interest_seq, device);
  moved.text_aug_mask = on(input.text_aug_mask, device);
  return moved;
}

// The model with the fixture's weights, on `device`; InputError for a weight the model
// lacks, of another shape, or missing.
MissRec model_of_fixture(const ModelFixture& fixture, at::Device device) {
  MissRec model(fixture.config);
  model->train();  // dropout is 0: train and eval agree
  {
    torch::NoGradGuard no_grad;
    auto parameters = model->named_tensors();
    for (const auto& [name, value] : fixture.weights) {
      const auto found = parameters.find(name);
      if (found == parameters.end()) {
        runtime::throw_input_error("/weights/" + name, "not a parameter of the model (public-implementation names)");
      }
      if (found->second.sizes() != value.sizes()) {
        runtime::throw_input_error("/weights/" + name, "shape differs from the model's");
      }
      found->second.copy_(value);
    }
    for (const auto& [name, value] : parameters) {
      if (fixture.weights.count(name) == 0) {
        runtime::throw_input_error("/weights", "missing parameter " + name);
      }
    }
  }
  model->to(device);
  return model;
}

std::vector<ParityLine> pretrain_lines(MissRecImpl& model, const ModelFixture& fixture, const ItemFeatures& features,
                                       const torch::Tensor& interest_embeddings, at::Device device) {
  const SequenceOutput view = model.encode(on(fixture.view, device), features, interest_embeddings);
  const SequenceOutput aug = model.encode(on(fixture.aug, device), features, interest_embeddings);
  const PretrainLosses losses = model.pretrain_loss(view, aug, on(fixture.pos_item, device), features);
  losses.total.backward();
  const auto& expected = fixture.expected;
  return {compare_output("seq_output", view.z, expected.at("seq_output")),
          compare_output("seq_output_aug", aug.z, expected.at("seq_output_aug")),
          compare_output("interest_reg", view.reg, expected.at("interest_reg")),
          compare_output("interest_reg_aug", aug.reg, expected.at("interest_reg_aug")),
          compare_output("loss_seq_item", losses.seq_item, expected.at("loss_seq_item")),
          compare_output("loss_seq_seq", losses.seq_seq, expected.at("loss_seq_seq")),
          compare_output("loss_total", losses.total, expected.at("loss_total"))};
}

// The fine-tuning step's computation (adaptors over every item, the length-aware forward,
// scores against every item, the loss with this batch as the global batch), then the
// plain forward.
std::vector<ParityLine> finetune_lines(MissRecImpl& model, const ModelFixture& fixture, const ItemFeatures& features,
                                       const torch::Tensor& interest_embeddings, at::Device device) {
  const SequenceInput view = on(fixture.view, device);
  const int64_t items = fixture.features.text.size(0) - 1;
  const AdaptedItems adapted = model.adapt_items({torch::arange(0, items + 1, torch::kLong)}, features);
  const SequenceOutput output = model.encode_by_length(view, adapted, interest_embeddings);
  const torch::Tensor scores = model.all_item_scores(output.z, adapted);
  const FinetuneLosses losses =
      model.finetune_loss(scores, on(fixture.pos_item, device), output.reg, fixture.pos_item.size(0));
  losses.total.backward();
  torch::NoGradGuard no_grad;
  const SequenceOutput plain = model.encode(view, features, interest_embeddings);
  const auto& expected = fixture.expected;
  return {compare_output("seq_output", output.z, expected.at("seq_output")),
          compare_output("interest_reg", output.reg, expected.at("interest_reg")),
          compare_output("scores", scores, expected.at("scores")),
          compare_output("loss_total", losses.total, expected.at("loss_total")),
          compare_output("seq_output (encode)", plain.z, expected.at("seq_output")),
          compare_output("interest_reg (encode)", plain.reg, expected.at("interest_reg"))};
}

}  // namespace

std::vector<ParityLine> check_model_parity(const ModelFixture& fixture, at::Device device) {
  MissRec model = model_of_fixture(fixture, device);
  const ItemFeatures features{on(fixture.features.text, device), on(fixture.features.image, device),
                              on(fixture.features.text_aug, device)};
  const torch::Tensor interest_embeddings = on(fixture.interest_embeddings, device);
  std::vector<ParityLine> lines = fixture.stage == FixtureStage::kPretrain
                                      ? pretrain_lines(*model, fixture, features, interest_embeddings, device)
                                      : finetune_lines(*model, fixture, features, interest_embeddings, device);
  auto parameters = model->named_tensors();
  for (const auto& [name, gradient] : fixture.expected_grad) {
    const auto found = parameters.find(name);
    const torch::Tensor actual = found == parameters.end() ? torch::Tensor() : found->second.grad();
    if (name == "item_embedding.weight" && actual.defined()) {
      // The padding row is left out: the public code normalises the whole table, whose
      // zero row 0 gets the gradient of x / max(|x|, 1e-12) at x = 0 (about 1e12 times
      // its upstream gradient); an embedding with padding_idx keeps that row's gradient 0.
      const int64_t rows = gradient.size(0) - 1;
      lines.push_back(compare_gradient(name + " (rows 1..N)", actual.narrow(0, 1, rows), gradient.narrow(0, 1, rows)));
      continue;
    }
    lines.push_back(compare_gradient(name, actual, gradient));
  }
  return lines;
}

}  // namespace missrec::tools
