// DPC-KNN at whatever -np mpirun gives: the public implementation's numbers (both
// fixtures), the full-matrix reference on other data, memory budgets, and the tie rules.
#include "cluster/dpc_knn.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <tuple>

#include "support/fixture_path.h"

#include "data/h5_file.h"
#include "runtime/error.h"
#include "support/mpi_test_env.h"

namespace missrec::cluster {
namespace {

using missrec::testing::comm;

using missrec::testing::fixture_path;

double max_relative(const at::Tensor& actual, const at::Tensor& expected, double floor = 1e-6) {
  const at::Tensor a = actual.to(at::kCPU, at::kDouble);
  const at::Tensor b = expected.to(at::kCPU, at::kDouble);
  return ((a - b).abs() / b.abs().clamp_min(floor)).max().item<double>();
}

void expect_same(const DpcResult& actual, const DpcResult& expected, double tolerance, double centroid_tolerance) {
  EXPECT_TRUE(at::equal(actual.center_index.to(at::kCPU), expected.center_index.to(at::kCPU)));
  EXPECT_TRUE(at::equal(actual.cluster_index.to(at::kCPU), expected.cluster_index.to(at::kCPU)));
  EXPECT_LE(max_relative(actual.density, expected.density), tolerance);
  EXPECT_LE(max_relative(actual.delta, expected.delta), tolerance);
  EXPECT_LE(max_relative(actual.score, expected.score), tolerance);
  const double scale = expected.centroids.abs().max().item<double>();
  EXPECT_LE((actual.centroids - expected.centroids).abs().max().item<double>() / scale, centroid_tolerance);
}

void check_fixture(const std::string& name) {
  MISSREC_SKIP_WITHOUT_FIXTURE(fixture_path(name));
  const data::H5File file = data::H5File::open_read(fixture_path(name));
  DpcOptions options;
  options.clusters = file.attribute<int64_t>("/", "cluster_num");
  options.knn_k = file.attribute<int64_t>("/", "local_size");
  const DpcResult result = dpc_knn(file.read_tensor("/tokens"), options, comm());
  DpcResult expected;
  expected.density = file.read_tensor("/expected/density");
  expected.delta = file.read_tensor("/expected/delta");
  expected.score = file.read_tensor("/expected/score");
  expected.center_index = file.read_tensor("/expected/center_index");
  expected.cluster_index = file.read_tensor("/expected/cluster_index");
  expected.centroids = file.read_tensor("/expected/centroids");
  expect_same(result, expected, 1e-4, 1e-4);
}

TEST(DpcKnn, SmallFixture) { check_fixture("dpc_knn_small.h5"); }
TEST(DpcKnn, MediumFixture) { check_fixture("dpc_knn_medium.h5"); }

// Gaussian blobs, the same on every rank.
at::Tensor blobs(int64_t n, int64_t dim, int64_t centers, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor means = at::randn({centers, dim}) * 3;
  const at::Tensor which = at::randint(0, centers, {n}, at::kLong);
  return means.index_select(0, which) + at::randn({n, dim});
}

TEST(DpcKnn, MatchesTheFullMatrixReference) {
  const at::Tensor tokens = blobs(1500, 24, 12, 7);
  DpcOptions options;
  options.clusters = 30;
  options.knn_k = 150;
  const DpcResult result = dpc_knn(tokens, options, comm());
  expect_same(result, dpc_knn_full_matrix(tokens, 30, 150), 1e-4, 1e-6);
}

void expect_identical(const DpcResult& actual, const DpcResult& expected) {
  for (const auto& [name, a, b] :
       {std::tuple{"density", actual.density, expected.density}, std::tuple{"delta", actual.delta, expected.delta},
        std::tuple{"score", actual.score, expected.score},
        std::tuple{"center_index", actual.center_index, expected.center_index},
        std::tuple{"cluster_index", actual.cluster_index, expected.cluster_index},
        std::tuple{"centroids", actual.centroids, expected.centroids}}) {
    EXPECT_TRUE(at::equal(a, b)) << name << " differs";
  }
}

TEST(DpcKnn, MemoryBudgetSetsThePassAndNotTheResult) {
  const at::Tensor tokens = blobs(3000, 16, 20, 9);
  DpcOptions roomy;
  roomy.clusters = 40;
  roomy.knn_k = 400;
  roomy.tile_rows = 32;       // many tiles on every rank
  roomy.kept_neighbours = 4;  // more rows need the exact delta scan
  // The tensor-op path, which GPUs take (the CPU kernel below).
  roomy.force_tensor_selection = true;
  DpcOptions tight = roomy;
  tight.memory_mb = 1;  // 32-row tiles of 12 KB rows (+ topk's outputs): a few tiles per pass
  DpcStats roomy_stats;
  DpcStats tight_stats;
  const DpcResult a = dpc_knn(tokens, roomy, comm(), &roomy_stats);
  const DpcResult b = dpc_knn(tokens, tight, comm(), &tight_stats);
  EXPECT_GT(tight_stats.unresolved_rows, 0);
  EXPECT_EQ(tight_stats.tile_rows, 32);
  EXPECT_LT(tight_stats.pass_rows, roomy_stats.pass_rows);
  EXPECT_EQ(tight_stats.pass_rows % 32, 0);
  expect_identical(b, a);
  // The CPU kernel summarises each tile as it is computed: one tile per pass at any
  // budget that admits one, and the same results as the tensor ops' passes.
  DpcOptions cpu_roomy = roomy;
  cpu_roomy.force_tensor_selection = false;
  DpcOptions cpu_tight = tight;
  cpu_tight.force_tensor_selection = false;
  DpcStats cpu_roomy_stats;
  DpcStats cpu_tight_stats;
  const DpcResult c = dpc_knn(tokens, cpu_roomy, comm(), &cpu_roomy_stats);
  const DpcResult d = dpc_knn(tokens, cpu_tight, comm(), &cpu_tight_stats);
  EXPECT_EQ(cpu_roomy_stats.pass_rows, 32);
  EXPECT_EQ(cpu_tight_stats.pass_rows, 32);
  expect_identical(d, c);
  expect_same(c, a, 1e-5, 1e-6);
}

TEST(DpcKnn, BudgetBelowOneTileIsAnInputError) {
  const at::Tensor tokens = blobs(3000, 16, 20, 9);
  DpcOptions options;
  options.clusters = 40;
  options.knn_k = 400;
  options.tile_rows = 1024;  // 12 MB of distances
  options.memory_mb = 4;
  try {
    dpc_knn(tokens, options, comm());
    FAIL() << "a 4 MB budget for a 12 MB tile was accepted";
  } catch (const runtime::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("cluster.memory_mb: 4 MB is below the"), std::string::npos)
        << error.what();
  }
}

TEST(DpcKnn, TensorOpSelectionMatchesTheCpuKernel) {
  // The path GPUs take (topk-based selection), run on the CPU.
  const at::Tensor tokens = blobs(1200, 20, 10, 5);
  DpcOptions options;
  options.clusters = 25;
  options.knn_k = 120;
  DpcOptions tensor_ops = options;
  tensor_ops.force_tensor_selection = true;
  expect_same(dpc_knn(tokens, tensor_ops, comm()), dpc_knn(tokens, options, comm()), 1e-5, 1e-6);
}

TEST(DpcKnn, KEqualToN) {
  const at::Tensor tokens = blobs(200, 8, 4, 3);
  DpcOptions options;
  options.clusters = 5;
  options.knn_k = 200;
  expect_same(dpc_knn(tokens, options, comm()), dpc_knn_full_matrix(tokens, 5, 200), 1e-4, 1e-6);
}

TEST(DpcKnn, TieRules) {
  // Four symmetric points: equal densities, so none is strictly denser and every delta
  // is the global maximum distance; equal scores pick the lower indices as centers;
  // a token equidistant from two centers joins the lower cluster id.
  const at::Tensor tokens = at::tensor({1.f, 0.f, -1.f, 0.f, 0.f, 1.f, 0.f, -1.f}).view({4, 2});
  DpcOptions options;
  options.clusters = 2;
  options.knn_k = 2;
  const DpcResult result = dpc_knn(tokens, options, comm());
  EXPECT_TRUE(result.density.eq(result.density[0]).all().item<bool>());
  EXPECT_TRUE(at::allclose(result.delta, at::full({4}, std::sqrt(4.0 / 2.0), at::kFloat)));
  EXPECT_TRUE(at::equal(result.center_index, at::tensor({0, 1}, at::kLong)));
  EXPECT_TRUE(at::equal(result.cluster_index, at::tensor({0, 1, 0, 0}, at::kLong)));
}

TEST(DpcKnn, DuplicatePoints) {
  at::Tensor tokens = blobs(300, 6, 5, 11);
  tokens = at::cat({tokens, tokens.slice(0, 10, 13), tokens.slice(0, 10, 11)});  // 4 copies of 10
  DpcOptions options;
  options.clusters = 8;
  options.knn_k = 20;
  const DpcResult result = dpc_knn(tokens, options, comm());
  // Copies have identical densities, so none is denser than another copy.
  EXPECT_EQ(result.density[10].item<float>(), result.density[300].item<float>());
  EXPECT_EQ(result.density[10].item<float>(), result.density[303].item<float>());
  EXPECT_GT(result.delta[10].item<float>(), 0.0f);
  EXPECT_EQ(result.cluster_index[10].item<int64_t>(), result.cluster_index[303].item<int64_t>());
  // The float32 full matrix breaks the copies' tie by rounding; in float64 it does not.
  expect_same(result, dpc_knn_full_matrix(tokens.to(at::kDouble), 8, 20), 1e-4, 1e-6);
}

}  // namespace
}  // namespace missrec::cluster
