// Every collective of the communicator at whatever world size mpirun gives; expected
// values are computed from rank and size.
#include "runtime/comm.h"

#include <gtest/gtest.h>

#include "support/mpi_test_env.h"

namespace missrec::runtime {
namespace {

using missrec::testing::comm;

at::TensorOptions on_device(at::ScalarType type) { return at::TensorOptions().dtype(type).device(comm().device()); }

at::Tensor cpu(const at::Tensor& tensor) { return tensor.to(at::kCPU); }

class AllreduceTest : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(AllreduceTest, SumMaxMin) {
  const at::ScalarType type = GetParam();
  const int rank = comm().rank();
  const int size = comm().size();
  // Element i on rank r holds (r + 1) * (i - 3): sums, maxima and minima are known.
  const at::Tensor index = at::arange(8, at::kDouble) - 3;
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
    SCOPED_TRACE(reduce_op_name(op));
    at::Tensor values = (index * (rank + 1)).to(on_device(type));
    comm().allreduce(values, op);
    at::Tensor expected;
    if (op == ReduceOp::kSum) expected = index * (size * (size + 1) / 2);
    if (op == ReduceOp::kMax) expected = at::where(index >= 0, index * size, index);
    if (op == ReduceOp::kMin) expected = at::where(index >= 0, index, index * size);
    EXPECT_TRUE(at::equal(cpu(values), expected.to(type))) << cpu(values) << " vs " << expected;
    EXPECT_EQ(values.scalar_type(), type);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AllreduceTest,
                         ::testing::Values(at::kFloat, at::kDouble, at::kLong, at::kInt, at::kHalf));

TEST(Comm, AllreduceInt64IsExactBeyondDoublePrecision) {
  const int64_t big = (int64_t{1} << 60) + 1;
  at::Tensor values = at::full({3}, big + comm().rank(), on_device(at::kLong));
  comm().allreduce(values, ReduceOp::kMax);
  EXPECT_EQ(cpu(values)[0].item<int64_t>(), big + comm().size() - 1);
  at::Tensor sums = at::full({1}, big, on_device(at::kLong));
  comm().allreduce(sums, ReduceOp::kMin);
  EXPECT_EQ(cpu(sums)[0].item<int64_t>(), big);
}

TEST(Comm, AllgatherEqualSizesInRankOrder) {
  const int size = comm().size();
  at::Tensor mine = at::full({2, 3}, comm().rank(), on_device(at::kFloat));
  const at::Tensor gathered = cpu(comm().allgather(mine));
  ASSERT_EQ(gathered.sizes(), (std::vector<int64_t>{2 * size, 3}));
  for (int r = 0; r < size; ++r) {
    EXPECT_TRUE(gathered.slice(0, 2 * r, 2 * r + 2).eq(r).all().item<bool>()) << r;
  }
}

TEST(Comm, AllgatherVariableSizesIncludingEmpty) {
  const int rank = comm().rank();
  const int size = comm().size();
  // Rank r contributes r rows (rank 0 none) of int64 values 100*r + row.
  at::Tensor mine = (at::arange(rank, at::kLong) + 100 * rank).unsqueeze(1).repeat({1, 2});
  std::vector<int64_t> counts;
  const at::Tensor gathered = cpu(comm().allgather_variable(mine.to(comm().device()), &counts));
  int64_t total = 0;
  for (int r = 0; r < size; ++r) {
    EXPECT_EQ(counts[r], r);
    total += r;
  }
  ASSERT_EQ(gathered.sizes(), (std::vector<int64_t>{total, 2}));
  int64_t row = 0;
  for (int r = 0; r < size; ++r) {
    for (int i = 0; i < r; ++i, ++row) {
      EXPECT_EQ(gathered[row][0].item<int64_t>(), 100 * r + i);
      EXPECT_EQ(gathered[row][1].item<int64_t>(), 100 * r + i);
    }
  }
}

TEST(Comm, AlltoallvSendsEachRankItsRowsIncludingNone) {
  const int rank = comm().rank();
  const int size = comm().size();
  // Rank s sends rank d (s + d) % 3 rows (none for some pairs) of values 1000 s + 10 d + i.
  auto rows_between = [](int s, int d) { return static_cast<int64_t>((s + d) % 3); };
  std::vector<int64_t> send_rows;
  std::vector<at::Tensor> parts;
  for (int d = 0; d < size; ++d) {
    send_rows.push_back(rows_between(rank, d));
    parts.push_back((at::arange(send_rows.back(), at::kLong) + 1000 * rank + 10 * d).unsqueeze(1).repeat({1, 3}));
  }
  std::vector<int64_t> received_rows;
  const at::Tensor received = cpu(comm().alltoallv(at::cat(parts).to(comm().device()), send_rows, &received_rows));
  int64_t row = 0;
  for (int s = 0; s < size; ++s) {
    ASSERT_EQ(received_rows[s], rows_between(s, rank)) << "from rank " << s;
    for (int64_t i = 0; i < rows_between(s, rank); ++i, ++row) {
      EXPECT_TRUE(received[row].eq(1000 * s + 10 * rank + i).all().item<bool>()) << s << " " << i;
    }
  }
  EXPECT_EQ(row, received.size(0));
  // Half-precision rows travel as their bytes.
  const at::Tensor halves = at::full({size, 2}, 0.25 + rank, on_device(at::kHalf));
  const at::Tensor back = cpu(comm().alltoallv(halves, std::vector<int64_t>(size, 1)));
  for (int s = 0; s < size; ++s) EXPECT_EQ(back[s][1].item<float>(), 0.25f + s);
}

TEST(Comm, AllgatherVariableFloatRows) {
  const int rank = comm().rank();
  at::Tensor mine = at::full({rank + 1, 4}, 0.5f + rank, on_device(at::kFloat));
  const at::Tensor gathered = cpu(comm().allgather_variable(mine));
  int64_t row = 0;
  for (int r = 0; r < comm().size(); ++r) {
    for (int i = 0; i <= r; ++i, ++row) {
      EXPECT_FLOAT_EQ(gathered[row][3].item<float>(), 0.5f + r);
    }
  }
  EXPECT_EQ(row, gathered.size(0));
}

TEST(Comm, BroadcastFromEveryRoot) {
  for (int root = 0; root < comm().size(); ++root) {
    at::Tensor values = at::arange(16, on_device(at::kDouble)) * (comm().rank() + 1);
    comm().broadcast(values, root);
    EXPECT_TRUE(at::equal(cpu(values), at::arange(16, at::kDouble) * (root + 1))) << root;
  }
}

TEST(Comm, ReduceScatterGivesEachRankItsBlock) {
  const int rank = comm().rank();
  const int size = comm().size();
  const int64_t block = 5;
  // Element i on rank r: i + r. Sum over ranks: size*i + size(size-1)/2.
  at::Tensor values = (at::arange(block * size, at::kLong) + rank).to(comm().device());
  const at::Tensor mine = cpu(comm().reduce_scatter(values, ReduceOp::kSum));
  const at::Tensor expected = at::arange(rank * block, (rank + 1) * block, at::kLong) * size + size * (size - 1) / 2;
  EXPECT_TRUE(at::equal(mine, expected)) << mine << " vs " << expected;

  at::Tensor maxima = (at::arange(block * size, at::kDouble) * (rank + 1)).to(comm().device());
  const at::Tensor mine_max = cpu(comm().reduce_scatter(maxima, ReduceOp::kMax));
  EXPECT_TRUE(at::equal(mine_max, at::arange(rank * block, (rank + 1) * block, at::kDouble) * size));
}

TEST(Comm, ReduceScatterMultiDimensional) {
  const int size = comm().size();
  at::Tensor values = at::ones({2 * size, 3}, on_device(at::kFloat));
  const at::Tensor mine = cpu(comm().reduce_scatter(values, ReduceOp::kSum));
  ASSERT_EQ(mine.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(mine.eq(size).all().item<bool>());
}

TEST(Comm, BarrierAndManyCollectivesInSequence) {
  for (int i = 0; i < 50; ++i) {
    comm().barrier();
    at::Tensor one = at::ones({1}, on_device(at::kLong));
    comm().allreduce(one, ReduceOp::kSum);
    ASSERT_EQ(cpu(one).item<int64_t>(), comm().size());
  }
}

TEST(Comm, IdentityAndDevice) {
  EXPECT_GE(comm().rank(), 0);
  EXPECT_LT(comm().rank(), comm().size());
  EXPECT_EQ(comm().size(), missrec::testing::world().size());
  EXPECT_LE(missrec::testing::world().local_rank(), comm().rank());
  EXPECT_FALSE(missrec::testing::world().host().empty());
}

}  // namespace
}  // namespace missrec::runtime
