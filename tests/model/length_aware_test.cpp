// The length-aware step (encode_by_length with adaptor rows computed once per distinct
// item) computes the padded computation's function: z, both regularisers, the losses
// (within 1e-5 relative) and every gradient (within 1e-4) on a batch with short and long
// histories, word-dropped positions, leading-zero interest sequences and interest
// columns padded wider than any sample needs (as the padding to the widest interest
// sequence of the global batch makes them, see docs/data-format.md).
#include <gtest/gtest.h>

#include "model/missrec_model.h"

namespace missrec::model {
namespace {

struct Case {
  SequenceInput view;
  SequenceInput aug;
  torch::Tensor pos_items;
};

Case make_case(int64_t batch, int64_t items, int64_t max_len, int64_t interests) {
  auto generator = at::detail::createCPUGenerator(21);
  Case c;
  // Lengths spread like real data: many short, a few at the maximum.
  torch::Tensor lengths = torch::randint(1, 9, {batch}, generator);
  lengths.narrow(0, 0, 3).fill_(max_len);
  lengths[3] = max_len - 1;
  c.view.item_length = lengths;
  c.view.item_seq = torch::randint(1, items + 1, {batch, max_len}, generator);
  c.view.item_seq.masked_fill_(torch::arange(max_len).unsqueeze(0) >= lengths.unsqueeze(1), 0);
  // Interest ids: sorted, a leading 0 for short samples, then padding; 3 spare columns.
  const int64_t width = 7 + 3;
  c.view.interest_seq = torch::zeros({batch, width}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = 1 + b % 6;
    const int64_t lead = lengths[b].item<int64_t>() < max_len ? 1 : 0;
    for (int64_t j = 0; j < n; ++j) c.view.interest_seq[b][lead + j] = 1 + (b * 3 + j * 5) % interests;
    c.view.interest_seq[b].narrow(0, lead, n).copy_(std::get<0>(c.view.interest_seq[b].narrow(0, lead, n).sort()));
  }
  c.aug = c.view;
  c.aug.item_seq = c.view.item_seq.clone();
  c.aug.text_aug_mask = (torch::rand({batch, max_len}, generator) < 0.3).logical_and(c.view.item_seq.ne(0));
  c.pos_items = torch::randint(1, items + 1, {batch}, generator);
  return c;
}

TEST(LengthAware, SameLossesAndGradientsAsThePaddedComputation) {
  ModelConfig config;
  config.hidden_size = 32;
  config.n_heads = 4;
  config.inner_size = 48;
  config.text_dim = 24;
  config.image_dim = 20;
  config.max_seq_len = 20;
  config.dropout = 0.0;
  config.attn_dropout = 0.0;
  MissRec model(config);
  model->reset_parameters(8);
  {
    torch::NoGradGuard no_grad;
    model->fusion_factor.fill_(0.7);  // both fusion branches matter
  }
  const int64_t items = 60;
  auto generator = at::detail::createCPUGenerator(13);
  ItemFeatures features;
  features.text = torch::randn({items + 1, 24}, generator);
  features.image = torch::randn({items + 1, 20}, generator);
  features.text_aug = torch::randn({items + 1, 24}, generator);
  features.text[0].zero_();
  features.image[0].zero_();
  features.text_aug[0].zero_();
  features.image[5].zero_();
  const torch::Tensor interest_embeddings = torch::randn({13, 32}, generator);
  interest_embeddings[0].zero_();
  const Case c = make_case(24, items, 20, 12);

  const auto run = [&](bool length_aware) {
    model->zero_grad();
    SequenceOutput view;
    SequenceOutput aug;
    PretrainLosses losses;
    if (length_aware) {
      const AdaptedItems adapted = model->adapt_items({c.view.item_seq, c.aug.item_seq, c.pos_items}, features,
                                                      c.aug.item_seq, c.aug.text_aug_mask);
      view = model->encode_by_length(c.view, adapted, interest_embeddings);
      aug = model->encode_by_length(c.aug, adapted, interest_embeddings);
      const auto [text, image] = model->item_vectors(c.pos_items, adapted);
      const torch::Tensor labels = torch::arange(c.pos_items.size(0));
      namespace F = torch::nn::functional;
      losses.seq_item = F::cross_entropy(model->logits(view.z, text, image) / config.temperature, labels);
      losses.seq_seq = F::cross_entropy(torch::matmul(view.z, aug.z.t()) / config.temperature, labels);
      losses.total = losses.seq_item + config.lambda * losses.seq_seq + config.gamma * (view.reg + aug.reg);
    } else {
      view = model->encode(c.view, features, interest_embeddings);
      aug = model->encode(c.aug, features, interest_embeddings);
      losses = model->pretrain_loss(view, aug, c.pos_items, features);
    }
    losses.total.backward();
    std::map<std::string, torch::Tensor> grads;
    for (const auto& item : model->named_parameters()) {
      if (item.value().grad().defined()) grads[item.key()] = item.value().grad().clone();
    }
    return std::make_tuple(view.z.detach(), aug.z.detach(), view.reg.item<double>(), aug.reg.item<double>(),
                           losses.total.item<double>(), losses.seq_item.item<double>(), grads);
  };
  const auto [z_pad, z_aug_pad, reg_pad, reg_aug_pad, total_pad, si_pad, grads_pad] = run(false);
  const auto [z, z_aug, reg, reg_aug, total, si, grads] = run(true);
  EXPECT_LT((z - z_pad).abs().max().item<double>(), 1e-5);
  EXPECT_LT((z_aug - z_aug_pad).abs().max().item<double>(), 1e-5);
  EXPECT_NEAR(reg, reg_pad, 1e-5 * std::abs(reg_pad));
  EXPECT_NEAR(reg_aug, reg_aug_pad, 1e-5 * std::abs(reg_aug_pad));
  EXPECT_NEAR(si, si_pad, 1e-5 * std::abs(si_pad));
  EXPECT_NEAR(total, total_pad, 1e-5 * std::abs(total_pad));
  ASSERT_EQ(grads.size(), grads_pad.size());
  for (const auto& [name, expected] : grads_pad) {
    const double scale = std::max(expected.abs().max().item<double>(), 1e-6);
    const double error = (grads.at(name) - expected).abs().max().item<double>() / scale;
    // The key block of in_proj_bias has a zero gradient in exact arithmetic.
    if (name.find("in_proj_bias") != std::string::npos) {
      EXPECT_LT((grads.at(name) - expected).abs().max().item<double>(), 1e-6) << name;
    } else {
      EXPECT_LT(error, 1e-4) << name;
    }
  }
}

}  // namespace
}  // namespace missrec::model
