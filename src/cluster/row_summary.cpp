#include "cluster/row_summary.h"

#include <glog/logging.h>

#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "runtime/vector_clones.h"

namespace missrec::cluster {

namespace {

// A row's values in [0, max] fall into kBuckets equal-width buckets. The bucket is
// monotone in the value (a product by a positive float and a truncation both keep order),
// so every value of a lower bucket is smaller than every value of a higher one: one
// counting pass finds the bucket that holds the k-th smallest value, and only that
// bucket's few values need selecting.
constexpr int32_t kBuckets = 1024;

inline uint32_t bits_of(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// kBuckets / max, or 0 (one bucket) when that is not a finite positive number.
float bucket_scale(float row_max) {
  const float scale = static_cast<float>(kBuckets) / row_max;
  return row_max > 0.0f && std::isfinite(scale) ? scale : 0.0f;
}

// The value's bucket: x = value * scale truncated, everything from kBuckets - 1 up in the
// last bucket (compared as a float first: x may exceed any integer).
inline int32_t bucket_of(float value, float scale) {
  const float x = value * scale;
  return x < static_cast<float>(kBuckets - 1) ? static_cast<int32_t>(x) : kBuckets - 1;
}

// (kBuckets - 1) / an upper bound of the row's k-th smallest value, estimated from every
// stride-th value with a wide margin (4 standard deviations of the sample's rank, + 8): with
// it, only the values below the bound need counting, in buckets 0 .. kBuckets - 2. 0 when
// the row is short, k is close to n, or the bound is 0.
float sampled_scale(const float* row, int64_t n, int64_t k, std::vector<float>& sample) {
  constexpr int64_t kSample = 256;
  if (n < 8 * kSample) return 0.0f;
  const int64_t stride = n / kSample;
  sample.resize(kSample);
  for (int64_t i = 0; i < kSample; ++i) sample[static_cast<size_t>(i)] = row[i * stride];
  const double expected = static_cast<double>(k) * kSample / static_cast<double>(n);
  const auto rank = static_cast<int64_t>(std::ceil(expected + 4.0 * std::sqrt(expected) + 8.0));
  if (rank >= kSample) return 0.0f;
  std::nth_element(sample.begin(), sample.begin() + rank, sample.end());
  const float bound = sample[static_cast<size_t>(rank)];
  const float scale = static_cast<float>(kBuckets - 1) / bound;
  return bound > 0.0f && std::isfinite(scale) ? scale : 0.0f;
}

// The bucket holding the `rank`-th smallest value (1-based) and how many values lie in
// the buckets below it.
std::pair<int32_t, int64_t> bucket_of_rank(const int32_t* counts, int64_t rank) {
  int64_t below = 0;
  int32_t bucket = 0;
  while (below + counts[bucket] < rank) below += counts[bucket++];
  return {bucket, below};
}

// The row loops below are built for each vector width (runtime/vector_clones.h).

// row[j] = max((row[j] + row_norm) + norms[j], 0) / dim, the float operations of
// distance_rows in their order; returns the row's maximum.
MISSREC_VECTOR_CLONES float finish_distances(float* __restrict row, const float* __restrict norms, int64_t n,
                                             float row_norm, float dim) {
  for (int64_t j = 0; j < n; ++j) {
    const float value = (row[j] + row_norm) + norms[j];
    row[j] = (value > 0.0f ? value : 0.0f) / dim;
  }
  // Non-negative floats order as their bits: an integer maximum, which vectorises.
  uint32_t maximum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const uint32_t bits = bits_of(row[j]);
    maximum = bits > maximum ? bits : maximum;
  }
  float value;
  std::memcpy(&value, &maximum, sizeof value);
  return value;
}

// Each value's bucket, vectorised (a plain loop: GCC builds it for each width).
MISSREC_VECTOR_CLONES void bucket_row(const float* __restrict row, int64_t n, float scale,
                                      int32_t* __restrict buckets) {
  for (int64_t j = 0; j < n; ++j) buckets[j] = bucket_of(row[j], scale);
}

// Bucket counts of `n` bucket ids, in four interleaved histograms (consecutive values
// often share a bucket, and one counter would make each increment wait for the previous).
void count_ids(const int32_t* ids, int64_t n, int32_t* histograms, int32_t* counts) {
  std::fill(histograms, histograms + 4 * kBuckets, 0);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    ++histograms[ids[j]];
    ++histograms[kBuckets + ids[j + 1]];
    ++histograms[2 * kBuckets + ids[j + 2]];
    ++histograms[3 * kBuckets + ids[j + 3]];
  }
  for (; j < n; ++j) ++histograms[ids[j]];
  for (int32_t b = 0; b < kBuckets; ++b) {
    counts[b] =
        (histograms[b] + histograms[kBuckets + b]) + (histograms[2 * kBuckets + b] + histograms[3 * kBuckets + b]);
  }
}

// Rows are read kChunk columns at a time. The sum below is added in kChunk lanes fixed by
// column index, so its rounding depends on the row alone, not on the CPU's vector width.
constexpr int64_t kChunk = 16;

// The scaled value x = value * scale below which a value's bucket is below `bucket`:
// bucket_of truncates x and caps it at the last bucket, so for x >= 0 and an integer
// bucket, bucket_of < bucket exactly when x < bucket; nothing lies below past the last.
float scaled_limit(int32_t bucket) {
  return bucket <= kBuckets - 1 ? static_cast<float>(bucket) : std::numeric_limits<float>::infinity();
}

struct BucketLimits {
  float below_k;     // x below it: a bucket below k's bucket
  float above_k;     // x below it: a bucket up to k's bucket
  float above_kept;  // x below it: a bucket up to kept's bucket
};

BucketLimits bucket_limits(int32_t k_bucket, int32_t kept_bucket) {
  return BucketLimits{scaled_limit(k_bucket), scaled_limit(k_bucket + 1), scaled_limit(kept_bucket + 1)};
}

// What one pass over a row collects, in column order. Each array has room for n + kChunk.
struct Collected {
  float* in_k_bucket;  // values of k's bucket
  int64_t in_k_count = 0;
  float* near_values;     // values of the buckets up to kept's
  int32_t* near_columns;  // and their columns
  int64_t near_count = 0;
};

double add_lanes(const double* lanes) {
  double sum = 0.0;
  for (int64_t i = 0; i < kChunk; ++i) sum += lanes[i];
  return sum;
}

// Returns the float64 sum of the row's values in buckets below k's bucket, and collects
// the values of k's bucket and those of the buckets up to kept's (with their columns).
double sum_and_collect_portable(const float* row, int64_t n, float scale, const BucketLimits& limits,
                                Collected& collected) {
  double lanes[kChunk] = {};
  for (int64_t j = 0; j < n; ++j) {
    const float value = row[j];
    const float x = value * scale;
    const bool below = x < limits.below_k;
    lanes[j % kChunk] += below ? static_cast<double>(value) : 0.0;
    collected.in_k_bucket[collected.in_k_count] = value;
    collected.in_k_count += !below && x < limits.above_k ? 1 : 0;
    collected.near_values[collected.near_count] = value;
    collected.near_columns[collected.near_count] = static_cast<int32_t>(j);
    collected.near_count += x < limits.above_kept ? 1 : 0;
  }
  return add_lanes(lanes);
}

// The bucket ids of the values below the last bucket, in column order, into `ids` (room
// for n + kChunk); returns how many.
int64_t ids_below_last_portable(const float* row, int64_t n, float scale, int32_t* ids) {
  constexpr float kLast = static_cast<float>(kBuckets - 1);
  int64_t listed = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float x = row[j] * scale;
    ids[listed] = static_cast<int32_t>(x < kLast ? x : 0.0f);
    listed += x < kLast ? 1 : 0;
  }
  return listed;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same two with AVX-512 (GCC 12 builds these compares one element at a time from
// plain loops or vector extensions). The tail chunk is read with zeros past the row and
// masked off where it matters; a zero adds nothing to the sum.
// GCC 12 warns of an uninitialised variable inside its own AVX-512 headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) double sum_and_collect_avx512(const float* row, int64_t n, float scale,
                                                                 const BucketLimits& limits, Collected& collected) {
  const __m512 scales = _mm512_set1_ps(scale);
  const __m512 below_k = _mm512_set1_ps(limits.below_k);
  const __m512 above_k = _mm512_set1_ps(limits.above_k);
  const __m512 above_kept = _mm512_set1_ps(limits.above_kept);
  const __m512i lane_columns = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512d low_lanes = _mm512_setzero_pd();
  __m512d high_lanes = _mm512_setzero_pd();
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t width = std::min(kChunk, n - c);
    const __mmask16 present = static_cast<__mmask16>((1u << width) - 1u);
    const __m512 values = _mm512_maskz_loadu_ps(present, row + c);
    const __m512 x = _mm512_mul_ps(values, scales);
    const __mmask16 below = _mm512_cmp_ps_mask(x, below_k, _CMP_LT_OQ);
    const __m512 summed = _mm512_maskz_mov_ps(below, values);
    low_lanes = _mm512_add_pd(low_lanes, _mm512_cvtps_pd(_mm512_castps512_ps256(summed)));
    high_lanes = _mm512_add_pd(high_lanes,
                               _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(summed), 1))));
    const __mmask16 in_k = static_cast<__mmask16>(~below & _mm512_cmp_ps_mask(x, above_k, _CMP_LT_OQ) & present);
    _mm512_storeu_ps(collected.in_k_bucket + collected.in_k_count, _mm512_maskz_compress_ps(in_k, values));
    collected.in_k_count += __builtin_popcount(in_k);
    const __mmask16 near = static_cast<__mmask16>(_mm512_cmp_ps_mask(x, above_kept, _CMP_LT_OQ) & present);
    if (near != 0) {
      const __m512i columns = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(c)), lane_columns);
      _mm512_storeu_ps(collected.near_values + collected.near_count, _mm512_maskz_compress_ps(near, values));
      _mm512_storeu_si512(collected.near_columns + collected.near_count, _mm512_maskz_compress_epi32(near, columns));
      collected.near_count += __builtin_popcount(near);
    }
  }
  double lanes[kChunk];
  _mm512_storeu_pd(lanes, low_lanes);
  _mm512_storeu_pd(lanes + 8, high_lanes);
  return add_lanes(lanes);
}

__attribute__((target("avx512f"))) int64_t ids_below_last_avx512(const float* row, int64_t n, float scale,
                                                                 int32_t* ids) {
  const __m512 scales = _mm512_set1_ps(scale);
  const __m512 last = _mm512_set1_ps(static_cast<float>(kBuckets - 1));
  int64_t listed = 0;
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t width = std::min(kChunk, n - c);
    const __mmask16 present = static_cast<__mmask16>((1u << width) - 1u);
    const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(present, row + c), scales);
    const __mmask16 below = static_cast<__mmask16>(_mm512_cmp_ps_mask(x, last, _CMP_LT_OQ) & present);
    _mm512_storeu_si512(ids + listed, _mm512_maskz_compress_epi32(below, _mm512_cvttps_epi32(x)));
    listed += __builtin_popcount(below);
  }
  return listed;
}
#pragma GCC diagnostic pop

bool use_avx512(SummaryKernel kernel) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && kernel == SummaryKernel::kWidest;
}
#else
bool use_avx512(SummaryKernel) { return false; }
#endif

int64_t ids_below_last(const float* row, int64_t n, float scale, int32_t* ids, SummaryKernel kernel) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (use_avx512(kernel)) return ids_below_last_avx512(row, n, scale, ids);
#endif
  return ids_below_last_portable(row, n, scale, ids);
}

double sum_and_collect(const float* row, int64_t n, float scale, const BucketLimits& limits, Collected& collected,
                       SummaryKernel kernel) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (use_avx512(kernel)) return sum_and_collect_avx512(row, n, scale, limits, collected);
#endif
  return sum_and_collect_portable(row, n, scale, limits, collected);
}

}  // namespace

void summarise_rows(at::Tensor& block, const float* row_norms, const float* norms, float dim, int64_t k, int64_t kept,
                    const RowSummaries& out, SummaryKernel kernel) {
  const int64_t rows = block.size(0);
  const int64_t n = block.size(1);
  float* data = block.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> histograms(4 * kBuckets);
    std::vector<int32_t> counts(kBuckets);
    std::vector<int32_t> ids(static_cast<size_t>(n + kChunk));
    std::vector<float> sample;
    std::vector<float> in_k_bucket(static_cast<size_t>(n + kChunk));
    std::vector<float> near_values(static_cast<size_t>(n + kChunk));
    std::vector<int32_t> near_columns(static_cast<size_t>(n + kChunk));
    std::vector<std::pair<float, int64_t>> nearest;
    for (int64_t r = begin; r < end; ++r) {
      float* row = data + r * n;
      out.row_max[r] = finish_distances(row, norms, n, row_norms[r], dim);
      // Buckets over the range below a sampled bound of the k-th value when it holds at
      // least k values (only those are counted), else over the whole row.
      float scale = sampled_scale(row, n, k, sample);
      const int64_t listed = scale > 0.0f ? ids_below_last(row, n, scale, ids.data(), kernel) : 0;
      if (listed >= k) {
        count_ids(ids.data(), listed, histograms.data(), counts.data());
        counts[kBuckets - 1] += static_cast<int32_t>(n - listed);
      } else {
        scale = bucket_scale(out.row_max[r]);
        bucket_row(row, n, scale, ids.data());
        count_ids(ids.data(), n, histograms.data(), counts.data());
      }
      const auto [k_bucket, k_below] = bucket_of_rank(counts.data(), k);
      const auto [kept_bucket, kept_below] = bucket_of_rank(counts.data(), kept);
      // Values below the k-th's bucket are all among the k smallest and are summed; that
      // bucket's values are collected to select the rest. The kept nearest lie at or
      // below kept_bucket (<= k_bucket, as kept <= k).
      Collected collected{in_k_bucket.data(), 0, near_values.data(), near_columns.data(), 0};
      double sum = sum_and_collect(row, n, scale, bucket_limits(k_bucket, kept_bucket), collected, kernel);
      // The rest of the k smallest, added in ascending order.
      const int64_t rest = k - k_below;
      CHECK_GE(collected.in_k_count, rest) << "k's bucket lost values";
      std::sort(in_k_bucket.begin(), in_k_bucket.begin() + collected.in_k_count);
      for (int64_t i = 0; i < rest; ++i) sum += in_k_bucket[static_cast<size_t>(i)];
      out.sums[r] = sum;
      // Pairs order by value, then column: the lower column first among equal distances.
      CHECK_GE(collected.near_count, kept) << "kept's bucket lost values";
      nearest.clear();
      for (int64_t i = 0; i < collected.near_count; ++i) {
        nearest.emplace_back(near_values[static_cast<size_t>(i)], near_columns[static_cast<size_t>(i)]);
      }
      std::nth_element(nearest.begin(), nearest.begin() + (kept - 1), nearest.end());
      std::sort(nearest.begin(), nearest.begin() + kept);
      for (int64_t i = 0; i < kept; ++i) {
        out.kept_values[r * kept + i] = nearest[static_cast<size_t>(i)].first;
        out.kept_index[r * kept + i] = nearest[static_cast<size_t>(i)].second;
      }
    }
  });
}

}  // namespace missrec::cluster
