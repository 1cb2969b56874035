#include "model/missrec_model.h"

#include "model/dropout.h"
#include "model/linear.h"
#include "model/loss_formula.h"
#include "model/similarity_fusion.h"

namespace missrec::model {

namespace F = torch::nn::functional;

torch::Tensor gather_features(const torch::Tensor& table, const torch::Tensor& ids) {
  torch::Tensor rows = table.index_select(0, ids.reshape({-1}));
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(table.size(1));
  return rows.to(torch::kFloat).view(shape);
}

MissRecImpl::MissRecImpl(const ModelConfig& config) : config_(config) {
  const int64_t hidden = config.hidden_size;
  text_adaptor = register_module("text_adaptor", torch::nn::Linear(config.text_dim, hidden));
  img_adaptor = register_module("img_adaptor", torch::nn::Linear(config.image_dim, hidden));
  position_embedding = register_module("position_embedding", torch::nn::Embedding(config.max_seq_len, hidden));
  LayerNorm = register_module("LayerNorm",
                              torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}).eps(config.layer_norm_eps)));
  fusion_factor = register_parameter("fusion_factor", torch::zeros({}));
  trm_model = register_module("trm_model", Transformer(config));
  if (config.n_items > 0) {
    item_embedding = register_module(
        "item_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(config.n_items + 1, hidden).padding_idx(0)));
  }
  reset_parameters(2020);
}

void MissRecImpl::reset_parameters(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& value = item.value();
    const bool is_norm = name.find("norm") != std::string::npos || name.rfind("LayerNorm", 0) == 0;
    if (name == "fusion_factor") {
      value.zero_();
    } else if (is_norm) {
      name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0 ? value.fill_(1.0) : value.zero_();
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      value.zero_();
    } else {
      value.copy_(at::normal(0.0, 0.02, value.sizes(), generator, torch::kFloat).to(value.device()));
    }
  }
  if (has_item_ids()) item_embedding->weight[0].zero_();
}

torch::Tensor MissRecImpl::with_item_ids(const torch::Tensor& inputs, const torch::Tensor& items) {
  return has_item_ids() ? inputs + item_embedding(items) : inputs;
}

SequenceOutput MissRecImpl::encode(const SequenceInput& input, const ItemFeatures& features,
                                   const torch::Tensor& interest_embeddings) {
  const torch::Tensor& items = input.item_seq;
  const int64_t batch = items.size(0);
  const int64_t width = items.size(1);
  TORCH_CHECK(width <= config_.max_seq_len, "history width ", width, " > max_seq_len");

  const torch::Tensor rows = features.rows_of(items);
  torch::Tensor text = gather_features(features.text, rows);
  if (input.text_aug_mask.defined() && features.text_aug.defined()) {
    text = torch::where(input.text_aug_mask.unsqueeze(-1), gather_features(features.text_aug, rows), text);
  }
  const torch::Tensor image = gather_features(features.image, rows);
  const torch::Tensor e = text_adaptor(text) + img_adaptor(image);

  // Interest encoder (no positions) -> memory.
  const torch::Tensor interest_padding = input.interest_seq.eq(0);
  const torch::Tensor interests = interest_embeddings.index_select(0, input.interest_seq.reshape({-1}))
                                      .view({batch, input.interest_seq.size(1), -1});
  const torch::Tensor memory = trm_model->encode(interests, interest_padding);

  // Interest-aware decoder over the items with positions.
  const torch::Tensor positions = torch::arange(width, items.options());
  torch::Tensor x = with_item_ids(e + position_embedding(positions).unsqueeze(0), items);
  x = model::dropout(LayerNorm(x), config_.dropout, is_training());
  const torch::Tensor decoded = trm_model->decode(x, items.eq(0), memory, interest_padding);
  const torch::Tensor last = (input.item_length - 1).view({batch, 1, 1}).expand({batch, 1, decoded.size(2)});
  const torch::Tensor h = decoded.gather(1, last).squeeze(1);

  SequenceOutput output;
  output.z = F::normalize(h.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1).eps(1e-12));
  output.memory = memory;
  // w_b = (#non-padding interests)/U, p_b = w_b * sum over all U positions.
  const double width_u = static_cast<double>(input.interest_seq.size(1));
  const torch::Tensor weight = input.interest_seq.ne(0).sum(1).to(torch::kFloat) / width_u;
  const torch::Tensor p = weight.unsqueeze(1) * memory.sum(1);
  output.reg = p.pow(2).sum() / static_cast<double>(config_.hidden_size);
  return output;
}

namespace {

// Rows of `rows` (one per id of the sorted `ids`) for every entry of `items`, shaped like
// items + [H].
torch::Tensor rows_for(const torch::Tensor& ids, const torch::Tensor& rows, const torch::Tensor& items) {
  const torch::Tensor index = torch::searchsorted(ids, items.reshape({-1}));
  std::vector<int64_t> shape = items.sizes().vec();
  shape.push_back(rows.size(1));
  return rows.index_select(0, index).view(shape);
}

}  // namespace

AdaptedItems MissRecImpl::adapt_items(const std::vector<torch::Tensor>& id_tensors, const ItemFeatures& features,
                                      const torch::Tensor& aug_items, const torch::Tensor& aug_mask) {
  // The distinct ids are found where the ids are (on the host for a CPU batch: finding
  // them on a GPU means waiting for it to learn their number) and used on the features'
  // device.
  const at::Device device = features.text.device();
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& ids : id_tensors) flat.push_back(ids.reshape({-1}));
  AdaptedItems adapted;
  adapted.ids = std::get<0>(torch::_unique(torch::cat(flat), /*sorted=*/true)).to(device, /*non_blocking=*/true);
  const torch::Tensor rows = features.rows_of(adapted.ids);
  adapted.text = model::linear(gather_features(features.text, rows), text_adaptor);
  adapted.image = model::linear(gather_features(features.image, rows), img_adaptor);
  if (aug_mask.defined() && features.text_aug.defined()) {
    const torch::Tensor aug_ids = std::get<0>(torch::_unique(aug_items.masked_select(aug_mask), /*sorted=*/true));
    if (aug_ids.numel() > 0) adapted.first_aug_id = aug_ids[0].item<int64_t>();
    adapted.aug_ids = aug_ids.to(device, /*non_blocking=*/true);
    adapted.text_aug =
        model::linear(gather_features(features.text_aug, features.rows_of(adapted.aug_ids)), text_adaptor);
  }
  return adapted;
}

std::pair<torch::Tensor, torch::Tensor> MissRecImpl::item_vectors(const torch::Tensor& items,
                                                                  const AdaptedItems& adapted) {
  const auto options = F::NormalizeFuncOptions().dim(-1).eps(1e-12);
  return {F::normalize(rows_for(adapted.ids, adapted.text, items).to(torch::kFloat), options),
          F::normalize(rows_for(adapted.ids, adapted.image, items).to(torch::kFloat), options)};
}

namespace {

// Groups of samples of similar history length: sorted by length (stable), consecutive
// samples within one bucket (1-8, 9-12, 13-18, 19-27, 28-40, 41-60, ...); attention pads
// each group to its longest history and interest list.
std::vector<std::vector<int64_t>> length_groups(const torch::Tensor& lengths) {
  const int64_t batch = lengths.size(0);
  const torch::Tensor order = std::get<1>(lengths.sort(/*stable=*/true, 0, false));
  const int64_t* order_ptr = order.data_ptr<int64_t>();
  const int64_t* length_ptr = lengths.data_ptr<int64_t>();
  const auto bucket_of = [](int64_t length) {
    int64_t bucket = 0;
    for (int64_t limit = 8; length > limit; limit += limit / 2) ++bucket;
    return bucket;
  };
  std::vector<std::vector<int64_t>> groups;
  for (int64_t start = 0; start < batch;) {
    const int64_t bucket = bucket_of(length_ptr[order_ptr[start]]);
    std::vector<int64_t> samples;
    for (; start < batch && bucket_of(length_ptr[order_ptr[start]]) == bucket; ++start) {
      samples.push_back(order_ptr[start]);
    }
    groups.push_back(std::move(samples));
  }
  return groups;
}

// Each sample's interest tokens: its used prefix (through its last non-zero id) and the
// first unused position, whose output every later (padding) position shares, since the
// encoder has no positions.
std::vector<int64_t> interest_token_counts(const torch::Tensor& interests_cpu) {
  const int64_t width = interests_cpu.size(1);
  const torch::Tensor positions = torch::arange(1, width + 1, torch::kLong).unsqueeze(0);
  const torch::Tensor used = (interests_cpu.ne(0).to(torch::kLong) * positions).amax(1);  // last non-zero + 1
  const int64_t* used_ptr = used.data_ptr<int64_t>();
  std::vector<int64_t> tokens(static_cast<size_t>(interests_cpu.size(0)));
  for (size_t b = 0; b < tokens.size(); ++b) tokens[b] = std::min(width, used_ptr[b] + 1);
  return tokens;
}

}  // namespace

torch::Tensor MissRecImpl::packed_decoder_input(const SequenceInput& input, const AdaptedItems& adapted,
                                                const PackedLayout& items, const torch::Tensor& item_ids) {
  // Adapted item rows (text_aug rows at word-dropped positions) plus positions.
  torch::Tensor text = rows_for(adapted.ids, adapted.text, item_ids);
  if (input.text_aug_mask.defined() && adapted.text_aug.defined() && adapted.aug_ids.numel() > 0) {
    const torch::Tensor mask = input.text_aug_mask.reshape({-1}).index_select(0, items.flat_index);
    // Positions not dropped are masked out afterwards but must still name a row that exists.
    const torch::Tensor aug_items = item_ids.masked_fill(mask.logical_not(), adapted.first_aug_id);
    text = torch::where(mask.unsqueeze(-1), rows_for(adapted.aug_ids, adapted.text_aug, aug_items), text);
  }
  const torch::Tensor item_positions = items.flat_index.remainder(input.item_seq.size(1));
  const torch::Tensor x = with_item_ids(
      text + rows_for(adapted.ids, adapted.image, item_ids) + position_embedding(item_positions), item_ids);
  return model::dropout(LayerNorm(x), config_.dropout, is_training());
}

SequenceOutput MissRecImpl::packed_output(const SequenceInput& input, const torch::Tensor& lengths,
                                          const std::vector<int64_t>& interest_tokens, const PackedLayout& items,
                                          const PackedLayout& interests, const torch::Tensor& decoded,
                                          const torch::Tensor& memory) {
  const int64_t batch = input.item_seq.size(0);
  const int64_t interest_width = input.interest_seq.size(1);
  const int64_t hidden = config_.hidden_size;
  const at::Device device = input.item_seq.device();
  const int64_t* length_ptr = lengths.data_ptr<int64_t>();
  // Each sample's last history position, in batch order.
  std::vector<int64_t> last(static_cast<size_t>(batch));
  std::vector<int64_t> first_unused(static_cast<size_t>(batch));
  std::vector<double> beyond(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    last[static_cast<size_t>(b)] = items.first_token[static_cast<size_t>(b)] + length_ptr[b] - 1;
    // The regulariser counts all `interest_width` positions: those past the sample's
    // tokens share the output of its first unused position (its last token).
    const int64_t tokens = interest_tokens[static_cast<size_t>(b)];
    first_unused[static_cast<size_t>(b)] = interests.first_token[static_cast<size_t>(b)] + tokens - 1;
    beyond[static_cast<size_t>(b)] = static_cast<double>(interest_width - tokens);
  }
  SequenceOutput output;
  const torch::Tensor h = decoded.index_select(0, indices_on(last, device));
  output.z = F::normalize(h.to(torch::kFloat), F::NormalizeFuncOptions().dim(-1).eps(1e-12));
  torch::Tensor total = torch::zeros({batch, hidden}, memory.options()).index_add(0, interests.sample_of_token, memory);
  total = total + torch::tensor(beyond, torch::kDouble).to(device, memory.scalar_type()).unsqueeze(1) *
                      memory.index_select(0, indices_on(first_unused, device));
  const torch::Tensor weight = input.interest_seq.ne(0).sum(1).to(torch::kFloat) / static_cast<double>(interest_width);
  output.reg = (weight.unsqueeze(1) * total).pow(2).sum() / static_cast<double>(hidden);
  return output;
}

SequenceOutput MissRecImpl::encode_by_length(const SequenceInput& input, const AdaptedItems& adapted,
                                             const torch::Tensor& interest_embeddings) {
  const int64_t batch = input.item_seq.size(0);
  const at::Device device = input.item_seq.device();
  // Per-sample sizes on the CPU.
  const torch::Tensor lengths =
      input.host_item_length.defined() ? input.host_item_length : input.item_length.to(torch::kCPU);
  const torch::Tensor interests_cpu =
      input.host_interest_seq.defined() ? input.host_interest_seq : input.interest_seq.to(torch::kCPU);
  const std::vector<std::vector<int64_t>> groups = length_groups(lengths);
  const std::vector<int64_t> interest_tokens = interest_token_counts(interests_cpu);
  std::vector<int64_t> item_tokens(lengths.data_ptr<int64_t>(), lengths.data_ptr<int64_t>() + batch);
  PackedLayout items = pack_groups(groups, item_tokens, input.item_seq.size(1), device);
  PackedLayout interests = pack_groups(groups, interest_tokens, input.interest_seq.size(1), device);
  const torch::Tensor item_ids = input.item_seq.reshape({-1}).index_select(0, items.flat_index);
  const torch::Tensor interest_ids = input.interest_seq.reshape({-1}).index_select(0, interests.flat_index);
  set_padding(items, input.item_seq, item_ids);
  set_padding(interests, input.interest_seq, interest_ids);

  const torch::Tensor x = packed_decoder_input(input, adapted, items, item_ids);
  const torch::Tensor memory = trm_model->encode_packed(interest_embeddings.index_select(0, interest_ids), interests);
  const torch::Tensor decoded = trm_model->decode_packed(x, items, memory, interests);
  return packed_output(input, lengths, interest_tokens, items, interests, decoded, memory);
}

std::pair<torch::Tensor, torch::Tensor> MissRecImpl::item_vectors(const torch::Tensor& items,
                                                                  const ItemFeatures& features) {
  const auto options = F::NormalizeFuncOptions().dim(-1).eps(1e-12);
  const torch::Tensor rows = features.rows_of(items);
  return {F::normalize(text_adaptor(gather_features(features.text, rows)).to(torch::kFloat), options),
          F::normalize(img_adaptor(gather_features(features.image, rows)).to(torch::kFloat), options)};
}

torch::Tensor MissRecImpl::logits(const torch::Tensor& z, const torch::Tensor& item_text,
                                  const torch::Tensor& item_image, const torch::Tensor& items) {
  // Similarities are divided by the temperature (0.07) into the loss: float32 products
  // also under bf16 autocast, whose rounding would be multiplied by 1/temperature.
  const c10::impl::ExcludeDispatchKeyGuard full_precision(c10::autocast_dispatch_keyset);
  const torch::Tensor a = torch::matmul(z, item_text.t());
  const torch::Tensor c = torch::matmul(z, item_image.t());
  torch::Tensor fused = fuse_similarities(a, c, fusion_factor);
  if (has_item_ids() && items.defined()) {
    const torch::Tensor ids = F::normalize(item_embedding(items), F::NormalizeFuncOptions().dim(-1).eps(1e-12));
    fused = (torch::matmul(z, ids.t()) + 2.0 * fused) / 3.0;
  }
  return fused;
}

PretrainLosses MissRecImpl::pretrain_loss(const SequenceOutput& view, const SequenceOutput& aug,
                                          const torch::Tensor& pos_items, const ItemFeatures& features) {
  const auto [item_text, item_image] = item_vectors(pos_items, features);
  const torch::Tensor labels = torch::arange(view.z.size(0), pos_items.options());
  const double tau = config_.temperature;
  PretrainLosses losses;
  losses.seq_item = F::cross_entropy(logits(view.z, item_text, item_image) / tau, labels);
  losses.seq_seq = F::cross_entropy(torch::matmul(view.z, aug.z.t()) / tau, labels);
  losses.reg = view.reg;
  losses.reg_aug = aug.reg;
  losses.total =
      pretrain_total(losses.seq_item, losses.seq_seq, losses.reg, losses.reg_aug, config_.lambda, config_.gamma);
  return losses;
}

torch::Tensor MissRecImpl::all_item_scores(const torch::Tensor& z, const AdaptedItems& adapted) {
  const auto [item_text, item_image] = item_vectors(adapted.ids, adapted);
  return logits(z, item_text, item_image, adapted.ids) / config_.temperature;
}

FinetuneLosses MissRecImpl::finetune_loss(const torch::Tensor& scores, const torch::Tensor& pos_items,
                                          const torch::Tensor& reg, int64_t global_batch) {
  FinetuneLosses losses;
  losses.cross_entropy =
      F::cross_entropy(scores.to(torch::kFloat), pos_items, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  losses.total = finetune_total(losses.cross_entropy / static_cast<double>(global_batch), reg, config_.gamma);
  return losses;
}

std::map<std::string, torch::Tensor> MissRecImpl::named_tensors() {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : named_parameters()) tensors[item.key()] = item.value();
  return tensors;
}

}  // namespace missrec::model
