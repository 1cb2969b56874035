#include "cli/collective_checks.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "runtime/stopwatch.h"

namespace missrec::cli {

using runtime::Communicator;
using runtime::ReduceOp;

namespace {

// Rank r's value at element i: magnitudes (r+1)(i%7+1), alternating sign, so sum,
// max and min all have simple closed forms.
at::Tensor rank_values(int64_t count, int rank, at::ScalarType type, at::Device device) {
  at::Tensor index = at::arange(count, at::kLong);
  at::Tensor magnitude = (index.remainder(7) + 1) * (rank + 1);
  at::Tensor sign = 1 - 2 * index.remainder(2);
  return (magnitude * sign).to(type).to(device);
}

at::Tensor expected_reduction(int64_t count, int world, ReduceOp op, at::ScalarType type) {
  at::Tensor index = at::arange(count, at::kLong);
  at::Tensor base = index.remainder(7) + 1;
  at::Tensor positive = index.remainder(2) == 0;
  at::Tensor result;
  switch (op) {
    case ReduceOp::kSum:
      result = at::where(positive, base, -base) * (world * (world + 1) / 2);
      break;
    case ReduceOp::kMax:  // positives peak at the last rank, negatives at rank 0
      result = at::where(positive, base * world, -base);
      break;
    case ReduceOp::kMin:
      result = at::where(positive, base, -base * world);
      break;
  }
  return result.to(type);
}

CheckResult compare(std::string name, const at::Tensor& actual, const at::Tensor& expected) {
  CheckResult result{std::move(name), false, ""};
  const at::Tensor got = actual.to(at::kCPU);
  if (got.sizes() != expected.sizes()) {
    std::ostringstream detail;
    detail << "shape " << got.sizes() << ", expected " << expected.sizes();
    result.detail = detail.str();
    return result;
  }
  const at::Tensor wrong = (got.to(at::kDouble) != expected.to(at::kDouble)).nonzero();
  if (wrong.size(0) == 0) {
    result.passed = true;
    return result;
  }
  const int64_t at_index = wrong[0][0].item<int64_t>();
  const at::Tensor flat_got = got.reshape({-1});
  const at::Tensor flat_expected = expected.reshape({-1});
  std::ostringstream detail;
  detail << wrong.size(0) << " wrong elements, first at " << at_index << ": got " << flat_got[at_index].item<double>()
         << ", expected " << flat_expected[at_index].item<double>();
  result.detail = detail.str();
  return result;
}

// Rows contributed by rank r to the variable allgather: r+1 rows, or r rows (so rank
// 0 contributes none) in the second variant.
at::Tensor variable_rows(int rank, int64_t rows, int64_t width, at::ScalarType type, at::Device device) {
  return (at::arange(rows * width, at::kLong).reshape({rows, width}) + 1000 * rank).to(type).to(device);
}

std::string dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kLong:
      return "int64";
    default:
      return std::string(at::toString(type));
  }
}

}  // namespace

std::vector<CheckResult> verify_collectives(Communicator& comm) {
  const int rank = comm.rank();
  const int world = comm.size();
  const at::Device device = comm.device();
  std::vector<CheckResult> results;
  const int64_t count = 1031;  // odd, so no size happens to align with anything

  for (at::ScalarType type : {at::kFloat, at::kDouble, at::kLong}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
      at::Tensor values = rank_values(count, rank, type, device);
      comm.allreduce(values, op);
      results.push_back(compare(std::string("allreduce ") + runtime::reduce_op_name(op) + " " + dtype_name(type),
                                values, expected_reduction(count, world, op, type)));
    }
  }

  for (at::ScalarType type : {at::kFloat, at::kLong}) {
    at::Tensor mine = variable_rows(rank, 3, 4, type, device);
    std::vector<at::Tensor> parts;
    for (int r = 0; r < world; ++r) parts.push_back(variable_rows(r, 3, 4, type, at::kCPU));
    results.push_back(compare(std::string("allgather ") + dtype_name(type), comm.allgather(mine), at::cat(parts)));
  }

  for (int64_t extra : {1, 0}) {
    for (at::ScalarType type : {at::kFloat, at::kLong}) {
      at::Tensor mine = variable_rows(rank, rank + extra, 5, type, device);
      std::vector<at::Tensor> parts;
      std::vector<int64_t> expected_counts;
      for (int r = 0; r < world; ++r) {
        parts.push_back(variable_rows(r, r + extra, 5, type, at::kCPU));
        expected_counts.push_back(r + extra);
      }
      std::vector<int64_t> counts;
      at::Tensor gathered = comm.allgather_variable(mine, &counts);
      CheckResult result = compare(
          std::string("allgather variable (rank r gives r+") + std::to_string(extra) + " rows) " + dtype_name(type),
          gathered, at::cat(parts));
      if (result.passed && counts != expected_counts) {
        result.passed = false;
        result.detail = "row counts differ from r+" + std::to_string(extra);
      }
      results.push_back(result);
    }
  }

  for (int root : world > 1 ? std::vector<int>{0, world - 1} : std::vector<int>{0}) {
    at::Tensor values = rank_values(count, rank, at::kDouble, device);
    comm.broadcast(values, root);
    results.push_back(compare("broadcast from rank " + std::to_string(root), values,
                              rank_values(count, root, at::kDouble, at::kCPU)));
  }

  for (at::ScalarType type : {at::kFloat, at::kLong}) {
    const int64_t block = 257;
    at::Tensor values = rank_values(block * world, rank, type, device);
    at::Tensor mine = comm.reduce_scatter(values, ReduceOp::kSum);
    at::Tensor full = expected_reduction(block * world, world, ReduceOp::kSum, type);
    results.push_back(compare(std::string("reduce_scatter sum ") + dtype_name(type), mine,
                              full.slice(0, rank * block, (rank + 1) * block)));
  }

  comm.barrier();
  results.push_back(CheckResult{"barrier", true, ""});
  return results;
}

std::vector<BandwidthRow> measure_allreduce(Communicator& comm, int64_t min_bytes, int64_t max_bytes, int warmup) {
  std::vector<BandwidthRow> rows;
  const int world = comm.size();
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
    const int64_t count = bytes / 4;
    BandwidthRow row;
    row.bytes = count * 4;
    // About 64 MiB of traffic per size, at least 5 and at most 200 timed calls.
    row.iterations = static_cast<int>(std::clamp<int64_t>((64 << 20) / bytes, 5, 200));
    at::Tensor data = at::ones({count}, at::TensorOptions().dtype(at::kFloat).device(comm.device()));
    for (int i = 0; i < warmup; ++i) comm.allreduce(data, ReduceOp::kSum);
    data.fill_(1.0);
    comm.synchronize();
    comm.barrier();
    const runtime::Stopwatch timed;
    for (int i = 0; i < row.iterations; ++i) comm.allreduce(data, ReduceOp::kSum);
    comm.synchronize();
    double seconds = timed.elapsed();
    at::Tensor slowest = at::full({1}, seconds, at::TensorOptions().dtype(at::kDouble).device(comm.device()));
    comm.allreduce(slowest, ReduceOp::kMax);
    seconds = slowest.to(at::kCPU).item<double>();
    row.seconds_per_op = seconds / row.iterations;
    row.algorithm_gbps = row.bytes / row.seconds_per_op / 1e9;
    row.bus_gbps = row.algorithm_gbps * 2.0 * (world - 1) / world;
    // Verify this size once, outside the timed loop.
    data.fill_(static_cast<double>(comm.rank() + 1));
    comm.allreduce(data, ReduceOp::kSum);
    const double expected = world * (world + 1) / 2.0;
    row.correct = (data.to(at::kCPU) == expected).all().item<bool>();
    rows.push_back(row);
  }
  return rows;
}

}  // namespace missrec::cli
