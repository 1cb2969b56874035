// The per-epoch interest refresh (DPC-KNN clustering of the items' modality tokens, see
// docs/architecture.md): tokens from the current adaptors, K and k
// from the ratios, tables mapped back to items, identical on every rank.
#include "cluster/interest_refresh.h"

#include <gtest/gtest.h>

#include "support/mpi_test_env.h"

namespace missrec::cluster {
namespace {

using missrec::testing::comm;

// A small model and random item features (150 items, text 12 / image 8 wide, row 0 zero).
struct RefreshCase {
  static constexpr int64_t kItems = 150;
  model::MissRec model{nullptr};
  model::ItemFeatures features;
  runtime::ClusterConfig options;

  RefreshCase() {
    model::ModelConfig config;
    config.hidden_size = 16;
    config.inner_size = 16;
    config.text_dim = 12;
    config.image_dim = 8;
    model = model::MissRec(config);
    model->reset_parameters(5);
    at::manual_seed(4);
    features.text = at::randn({kItems + 1, 12});
    features.image = at::randn({kItems + 1, 8});
    features.text[0].zero_();
    features.image[0].zero_();
    options.interest_ratio = 0.05;  // K = ceil(300 * 0.05) = 15
    options.knn_local_ratio = 0.1;  // k = ceil(300 * 0.1) = 30
  }

  // The tokens the refresh clusters: both adaptors' outputs for items 1..N.
  at::Tensor tokens() {
    torch::NoGradGuard no_grad;
    return at::cat({model->text_adaptor(features.text.slice(0, 1)), model->img_adaptor(features.image.slice(0, 1))});
  }
};

TEST(InterestRefresh, TablesFollowTheClustering) {
  RefreshCase c;
  const int64_t items = RefreshCase::kItems;
  c.features.image[7].zero_();  // missing image: still a token
  const data::InterestState state = refresh_interests(*c.model, c.features, c.options, comm());
  EXPECT_EQ(state.clusters, 15);
  EXPECT_EQ(state.knn_k, 30);
  ASSERT_EQ(state.text_interest.numel(), items + 1);
  ASSERT_EQ(state.interest_embeddings.sizes(), (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(state.text_interest[0].item<int64_t>(), 0);
  EXPECT_EQ(state.image_interest[0].item<int64_t>(), 0);
  EXPECT_TRUE(state.interest_embeddings[0].eq(0).all().item<bool>());
  EXPECT_GE(state.text_interest.slice(0, 1).min().item<int64_t>(), 1);
  EXPECT_LE(state.image_interest.slice(0, 1).max().item<int64_t>(), 15);

  // The same as clustering the adaptor outputs directly.
  DpcOptions dpc;
  dpc.clusters = 15;
  dpc.knn_k = 30;
  const DpcResult direct = dpc_knn(c.tokens(), dpc, comm());
  EXPECT_TRUE(at::equal(state.text_interest.slice(0, 1), direct.cluster_index.slice(0, 0, items) + 1));
  EXPECT_TRUE(at::equal(state.image_interest.slice(0, 1), direct.cluster_index.slice(0, items) + 1));
  EXPECT_TRUE(at::equal(state.interest_embeddings.slice(0, 1), direct.centroids));

  // Every rank holds the same tables.
  at::Tensor sums = at::full({1}, interest_checksum(state), at::kDouble);
  const at::Tensor all = comm().allgather(sums);
  EXPECT_TRUE(all.eq(all[0]).all().item<bool>());
}

// Sharded features: each rank passes only its range of rows (ids [1 + rN/P, 1 + (r+1)N/P));
// the tables equal those of every rank passing every row, with either method (the sampled
// one sends the rows to the ranks whose shard of the clustering holds them: here all to
// rank 0, one distance tile).
TEST(InterestRefresh, ShardedRowsGiveTheReplicatedTables) {
  for (const runtime::ClusterMethod method : {runtime::ClusterMethod::kExact, runtime::ClusterMethod::kSampled}) {
    RefreshCase c;
    c.options.method = method;
    c.options.sample_size = 40;
    const int64_t items = RefreshCase::kItems;
    const data::InterestState replicated = refresh_interests(*c.model, c.features, c.options, comm());
    const int64_t first = 1 + comm().rank() * items / comm().size();
    const int64_t end = 1 + (comm().rank() + 1) * items / comm().size();
    model::ItemFeatures share{c.features.text.slice(0, first, end), c.features.image.slice(0, first, end), at::Tensor(),
                              at::arange(first, end, at::kLong), items};
    const data::InterestState sharded = refresh_interests(*c.model, share, c.options, comm());
    const char* name = method == runtime::ClusterMethod::kExact ? "exact" : "sampled";
    EXPECT_TRUE(at::equal(sharded.text_interest, replicated.text_interest)) << name;
    EXPECT_TRUE(at::equal(sharded.image_interest, replicated.image_interest)) << name;
    EXPECT_TRUE(at::equal(sharded.interest_embeddings, replicated.interest_embeddings)) << name;
  }
}

// cluster.method and cluster.sample_size reach the clustering: the sampled refresh is
// dpc_knn_sampled with that sample, and its tables differ from the exact method's here.
TEST(InterestRefresh, MethodAndSampleSizeChooseTheClustering) {
  RefreshCase c;
  const int64_t items = RefreshCase::kItems;
  const data::InterestState exact = refresh_interests(*c.model, c.features, c.options, comm());
  c.options.method = runtime::ClusterMethod::kSampled;
  c.options.sample_size = 40;
  const data::InterestState sampled = refresh_interests(*c.model, c.features, c.options, comm());

  DpcOptions dpc;
  dpc.clusters = 15;
  dpc.knn_k = 30;
  dpc.sample_size = 40;
  const DpcResult direct = dpc_knn_sampled(c.tokens(), dpc, comm());
  EXPECT_TRUE(at::equal(sampled.text_interest.slice(0, 1), direct.cluster_index.slice(0, 0, items) + 1));
  EXPECT_TRUE(at::equal(sampled.interest_embeddings.slice(0, 1), direct.centroids));
  EXPECT_FALSE(at::equal(sampled.interest_embeddings, exact.interest_embeddings))
      << "the sampled method gave the exact method's interests";
}

}  // namespace
}  // namespace missrec::cluster
