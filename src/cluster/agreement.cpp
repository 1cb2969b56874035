#include "cluster/agreement.h"

#include <glog/logging.h>

#include <map>
#include <utility>

namespace missrec::cluster {

namespace {

double pairs(double n) { return n * (n - 1) / 2; }

}  // namespace

double adjusted_rand_index(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kCPU, at::kLong).contiguous(), y = b.to(at::kCPU, at::kLong).contiguous();
  CHECK_EQ(x.numel(), y.numel());
  std::map<std::pair<int64_t, int64_t>, double> joint;
  std::map<int64_t, double> rows, columns;
  const int64_t* u = x.data_ptr<int64_t>();
  const int64_t* v = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    joint[{u[i], v[i]}] += 1;
    rows[u[i]] += 1;
    columns[v[i]] += 1;
  }
  double index = 0, row_sum = 0, column_sum = 0;
  for (const auto& entry : joint) index += pairs(entry.second);
  for (const auto& entry : rows) row_sum += pairs(entry.second);
  for (const auto& entry : columns) column_sum += pairs(entry.second);
  const double expected = row_sum * column_sum / pairs(static_cast<double>(x.numel()));
  const double maximum = 0.5 * (row_sum + column_sum);
  return maximum == expected ? 1.0 : (index - expected) / (maximum - expected);
}

double shared_fraction(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() == 0) return 1.0;
  return at::isin(a.to(at::kCPU), b.to(at::kCPU)).sum().item<double>() / static_cast<double>(a.numel());
}

}  // namespace missrec::cluster
