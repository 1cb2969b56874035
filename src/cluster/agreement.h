#pragma once

#include <ATen/ATen.h>

namespace missrec::cluster {

// Adjusted Rand index of two labelings [N] int64 (Hubert and Arabie): 1 for the same
// partition, about 0 for independent ones. How closely one clustering follows another
// (the sampled DPC-KNN against the exact one).
double adjusted_rand_index(const at::Tensor& a, const at::Tensor& b);

// The fraction of `a`'s entries found in `b` (center index lists).
double shared_fraction(const at::Tensor& a, const at::Tensor& b);

}  // namespace missrec::cluster
