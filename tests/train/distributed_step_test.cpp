// The pieces of a distributed training step (global in-batch negatives and the
// distributed protocol, see docs/architecture.md and docs/reliability.md): the
// all-gather whose backward returns each rank its rows' gradients, the rank loss whose
// sum over ranks is the one-rank loss of the global batch (gradients too), the fused
// gradient allreduce, and Adam equal to torch.optim.Adam. Expectations follow the world
// size, so any -np passes.
#include <gtest/gtest.h>

#include "support/mpi_test_env.h"
#include "train/adam.h"
#include "train/contrastive_loss.h"
#include "train/gradient_sync.h"
#include "train/parameter_set.h"

namespace missrec::train {
namespace {

using missrec::testing::comm;

TEST(AllGatherRows, BackwardHandsEachRankItsRowsGradient) {
  const int ranks = comm().size();
  const int64_t rows = 3;
  torch::Tensor local = torch::full({rows, 2}, static_cast<float>(comm().rank() + 1)).requires_grad_(true);
  const torch::Tensor gathered = all_gather_rows(local, comm());
  ASSERT_EQ(gathered.size(0), ranks * rows);
  for (int r = 0; r < ranks; ++r) {
    EXPECT_TRUE(gathered.narrow(0, r * rows, rows).eq(r + 1).all().item<bool>());
  }
  // Every rank's loss weighs the gathered rows the same way; the owner's gradient is the
  // sum over the ranks' losses: ranks * weight.
  const torch::Tensor weight = torch::arange(ranks * rows * 2, torch::kFloat).view({ranks * rows, 2});
  (gathered * weight).sum().backward();
  const torch::Tensor expected = weight.narrow(0, comm().rank() * rows, rows) * static_cast<float>(ranks);
  EXPECT_TRUE(torch::allclose(local.grad(), expected));
}

struct TinyBatch {
  model::SequenceInput view;
  model::SequenceInput aug;
  torch::Tensor pos_items;
};

// A global batch drawn from a fixed seed (the same on every rank) and a rank's block of it.
TinyBatch global_batch(int64_t batch, int64_t items) {
  auto generator = at::detail::createCPUGenerator(9);
  TinyBatch out;
  const int64_t width = 6;
  out.view.item_seq = torch::randint(1, items + 1, {batch, width}, generator);
  out.view.item_length = torch::randint(1, width + 1, {batch}, generator);
  const torch::Tensor positions = torch::arange(width).unsqueeze(0);
  out.view.item_seq.masked_fill_(positions >= out.view.item_length.unsqueeze(1), 0);
  out.view.interest_seq = torch::randint(0, 5, {batch, 4}, generator);
  out.view.interest_seq.select(1, 0).fill_(1);
  out.aug = out.view;
  out.aug.text_aug_mask = torch::rand({batch, width}, generator) < 0.5;
  out.pos_items = torch::randint(1, items + 1, {batch}, generator);
  return out;
}

model::SequenceInput block(const model::SequenceInput& input, int64_t first, int64_t count) {
  model::SequenceInput out;
  out.item_seq = input.item_seq.narrow(0, first, count);
  out.item_length = input.item_length.narrow(0, first, count);
  out.interest_seq = input.interest_seq.narrow(0, first, count);
  if (input.text_aug_mask.defined()) out.text_aug_mask = input.text_aug_mask.narrow(0, first, count);
  return out;
}

TEST(PretrainRankLoss, SumOverRanksIsTheGlobalBatchLossWithItsGradients) {
  model::ModelConfig config;
  config.hidden_size = 16;
  config.n_heads = 2;
  config.inner_size = 24;
  config.text_dim = 10;
  config.image_dim = 8;
  config.dropout = 0.0;
  config.attn_dropout = 0.0;
  config.max_seq_len = 8;
  model::MissRec model(config);
  model->reset_parameters(3);
  const int64_t items = 40;
  auto generator = at::detail::createCPUGenerator(5);
  model::ItemFeatures features;
  features.text = torch::randn({items + 1, 10}, generator);
  features.image = torch::randn({items + 1, 8}, generator);
  features.text_aug = torch::randn({items + 1, 10}, generator);
  const torch::Tensor interests = torch::randn({5, 16}, generator);
  const int64_t per_rank = 4;
  const int64_t batch = per_rank * comm().size();
  const TinyBatch global = global_batch(batch, items);

  // One rank, the whole global batch.
  const model::SequenceOutput view = model->encode(global.view, features, interests);
  const model::SequenceOutput aug = model->encode(global.aug, features, interests);
  const model::PretrainLosses reference = model->pretrain_loss(view, aug, global.pos_items, features);
  model->zero_grad();
  reference.total.backward();
  std::map<std::string, torch::Tensor> reference_grads;
  for (const auto& item : model->named_parameters()) {
    if (item.value().grad().defined()) reference_grads[item.key()] = item.value().grad().clone();
  }

  // This rank's block, global negatives, gradients summed with GradientSync in place.
  ParameterSet parameters(*model, 2);
  GradientSync sync(parameters, comm());
  parameters.zero_gradients();
  const int64_t first = comm().rank() * per_rank;
  const model::SequenceOutput my_view = model->encode(block(global.view, first, per_rank), features, interests);
  const model::SequenceOutput my_aug = model->encode(block(global.aug, first, per_rank), features, interests);
  const RankLoss loss = pretrain_rank_loss(*model, my_view, my_aug,
                                           model->item_vectors(global.pos_items.narrow(0, first, per_rank), features),
                                           batch, Negatives::kGlobal, comm());
  loss.total.backward();
  const std::vector<double> sums =
      sync.allreduce({loss.total.item<double>(), loss.parts[RankLoss::kSeqItemSum].item<double>()});
  EXPECT_NEAR(sums[0], reference.total.item<double>(), 1e-5 * std::abs(reference.total.item<double>()));
  EXPECT_NEAR(sums[1] / batch, reference.seq_item.item<double>(), 1e-5 * reference.seq_item.item<double>());
  const auto relative_error = [](const torch::Tensor& actual, const torch::Tensor& expected) {
    const double scale = std::max(expected.abs().max().item<double>(), 1e-6);
    return (actual - expected).abs().max().item<double>() / scale;
  };
  for (const auto& entry : parameters.entries()) {
    const torch::Tensor& expected = reference_grads.at(entry.name);
    const torch::Tensor actual = entry.tensor.grad();
    if (entry.name.find("in_proj_bias") == std::string::npos) {
      EXPECT_LT(relative_error(actual, expected), 1e-4) << entry.name;
      continue;
    }
    // [query | key | value] blocks: the key bias has a zero gradient in exact arithmetic
    // (softmax is shift invariant), so its block is rounding noise, bounded absolutely.
    const int64_t hidden = expected.size(0) / 3;
    for (const int64_t block : {int64_t{0}, int64_t{2}}) {
      EXPECT_LT(relative_error(actual.narrow(0, block * hidden, hidden), expected.narrow(0, block * hidden, hidden)),
                1e-4)
          << entry.name << (block == 0 ? " (query block)" : " (value block)");
    }
    EXPECT_LT((actual.narrow(0, hidden, hidden) - expected.narrow(0, hidden, hidden)).abs().max().item<double>(), 1e-5)
        << entry.name << " (key block)";
  }
}

TEST(GradientSync, SumsEveryGradientAndTheScalarsInOneBuffer) {
  const int ranks = comm().size();
  torch::nn::Linear layer(3, 2);
  ParameterSet parameters(*layer, 2);
  EXPECT_EQ(parameters.numel(), 8);
  EXPECT_EQ(parameters.reduced_buffer().numel(), 10);
  layer->weight.grad().fill_(static_cast<float>(comm().rank() + 1));
  if (comm().rank() == 0) layer->bias.grad().fill_(1.0f);  // the others: no gradient, zero
  GradientSync sync(parameters, comm());
  const std::vector<double> sums = sync.allreduce({1.0, static_cast<double>(comm().rank())});
  EXPECT_TRUE(layer->weight.grad().eq(ranks * (ranks + 1) / 2.0).all().item<bool>());
  EXPECT_TRUE(layer->bias.grad().eq(1.0).all().item<bool>());
  EXPECT_EQ(sums[0], ranks);
  EXPECT_EQ(sums[1], ranks * (ranks - 1) / 2.0);
}

TEST(Adam, MatchesTorchOptimAdam) {
  torch::manual_seed(1);
  torch::nn::Linear ours(4, 3);
  torch::nn::Linear theirs(4, 3);
  {
    torch::NoGradGuard no_grad;
    theirs->weight.copy_(ours->weight);
    theirs->bias.copy_(ours->bias);
  }
  ParameterSet parameters(*ours);
  EXPECT_EQ(ours->weight.data_ptr<float>(), parameters.values().data_ptr<float>()) << "a view of the flat values";
  Adam adam(parameters, AdamOptions{1e-2, 0.9, 0.999, 1e-8, 0.01});
  torch::optim::Adam reference(theirs->parameters(), torch::optim::AdamOptions(1e-2).weight_decay(0.01));
  const torch::Tensor input = torch::randn({5, 4});
  for (int step = 0; step < 4; ++step) {
    parameters.zero_gradients();
    for (auto& p : theirs->parameters()) p.mutable_grad() = torch::Tensor();
    for (auto* layer : {&ours, &theirs}) (*layer)->forward(input).pow(2).sum().backward();
    ASSERT_TRUE(parameters.gradients_bound()) << "backward accumulated into the flat gradient buffer";
    adam.step();
    reference.step();
  }
  EXPECT_EQ(adam.steps(), 4);
  EXPECT_TRUE(torch::equal(ours->weight, theirs->weight)) << "the same float operations per value";
  EXPECT_TRUE(torch::equal(ours->bias, theirs->bias));
}

}  // namespace
}  // namespace missrec::train
