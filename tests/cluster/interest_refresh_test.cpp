// The per-epoch interest refresh (DPC-KNN clustering of the items' modality tokens, see
// docs/architecture.md): tokens from the current adaptors, K and k
// from the ratios, tables mapped back to items, identical on every rank.
#include "cluster/interest_refresh.h"

#include <gtest/gtest.h>

#include "support/mpi_test_env.h"

namespace missrec::cluster {
namespace {

using missrec::testing::comm;

TEST(InterestRefresh, TablesFollowTheClustering) {
  model::ModelConfig config;
  config.hidden_size = 16;
  config.inner_size = 16;
  config.text_dim = 12;
  config.image_dim = 8;
  model::MissRec model(config);
  model->reset_parameters(5);
  at::manual_seed(4);
  const int64_t items = 150;
  model::ItemFeatures features;
  features.text = at::randn({items + 1, 12});
  features.image = at::randn({items + 1, 8});
  features.text[0].zero_();
  features.image[0].zero_();
  features.image[7].zero_();  // missing image: still a token

  runtime::ClusterConfig options;
  options.interest_ratio = 0.05;
  options.knn_local_ratio = 0.1;
  const data::InterestState state = refresh_interests(*model, features, options, comm());
  EXPECT_EQ(state.clusters, 15);  // ceil(300 * 0.05)
  EXPECT_EQ(state.knn_k, 30);     // ceil(300 * 0.1)
  ASSERT_EQ(state.text_interest.numel(), items + 1);
  ASSERT_EQ(state.interest_embeddings.sizes(), (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(state.text_interest[0].item<int64_t>(), 0);
  EXPECT_EQ(state.image_interest[0].item<int64_t>(), 0);
  EXPECT_TRUE(state.interest_embeddings[0].eq(0).all().item<bool>());
  EXPECT_GE(state.text_interest.slice(0, 1).min().item<int64_t>(), 1);
  EXPECT_LE(state.image_interest.slice(0, 1).max().item<int64_t>(), 15);

  // The same as clustering the adaptor outputs directly.
  torch::NoGradGuard no_grad;
  const at::Tensor tokens =
      at::cat({model->text_adaptor(features.text.slice(0, 1)), model->img_adaptor(features.image.slice(0, 1))});
  DpcOptions dpc;
  dpc.clusters = 15;
  dpc.knn_k = 30;
  const DpcResult direct = dpc_knn(tokens, dpc, comm());
  EXPECT_TRUE(at::equal(state.text_interest.slice(0, 1), direct.cluster_index.slice(0, 0, items) + 1));
  EXPECT_TRUE(at::equal(state.image_interest.slice(0, 1), direct.cluster_index.slice(0, items) + 1));
  EXPECT_TRUE(at::equal(state.interest_embeddings.slice(0, 1), direct.centroids));

  // Every rank holds the same tables.
  at::Tensor sums = at::full({1}, interest_checksum(state), at::kDouble);
  const at::Tensor all = comm().allgather(sums);
  EXPECT_TRUE(all.eq(all[0]).all().item<bool>());
}

// cluster.method and cluster.sample_size reach the clustering: the sampled refresh is
// dpc_knn_sampled with that sample, and its tables differ from the exact method's here.
TEST(InterestRefresh, MethodAndSampleSizeChooseTheClustering) {
  model::ModelConfig config;
  config.hidden_size = 16;
  config.inner_size = 16;
  config.text_dim = 12;
  config.image_dim = 8;
  model::MissRec model(config);
  model->reset_parameters(5);
  at::manual_seed(4);
  const int64_t items = 150;
  model::ItemFeatures features;
  features.text = at::randn({items + 1, 12});
  features.image = at::randn({items + 1, 8});
  runtime::ClusterConfig options;
  options.interest_ratio = 0.05;
  options.knn_local_ratio = 0.1;
  const data::InterestState exact = refresh_interests(*model, features, options, comm());
  options.method = runtime::ClusterMethod::kSampled;
  options.sample_size = 40;
  const data::InterestState sampled = refresh_interests(*model, features, options, comm());

  torch::NoGradGuard no_grad;
  const at::Tensor tokens =
      at::cat({model->text_adaptor(features.text.slice(0, 1)), model->img_adaptor(features.image.slice(0, 1))});
  DpcOptions dpc;
  dpc.clusters = 15;
  dpc.knn_k = 30;
  dpc.sample_size = 40;
  const DpcResult direct = dpc_knn_sampled(tokens, dpc, comm());
  EXPECT_TRUE(at::equal(sampled.text_interest.slice(0, 1), direct.cluster_index.slice(0, 0, items) + 1));
  EXPECT_TRUE(at::equal(sampled.interest_embeddings.slice(0, 1), direct.centroids));
  EXPECT_FALSE(at::equal(sampled.interest_embeddings, exact.interest_embeddings))
      << "the sampled method gave the exact method's interests";
}

TEST(InterestRefresh, AbsoluteKOverridesTheRatio) {
  model::ModelConfig config;
  config.hidden_size = 8;
  config.n_heads = 2;
  config.inner_size = 8;
  config.text_dim = 4;
  config.image_dim = 4;
  model::MissRec model(config);
  model::ItemFeatures features;
  at::manual_seed(1);
  features.text = at::randn({41, 4});
  features.image = at::randn({41, 4});
  runtime::ClusterConfig options;
  options.knn_k = 7;
  EXPECT_EQ(refresh_interests(*model, features, options, comm()).knn_k, 7);
}

}  // namespace
}  // namespace missrec::cluster
