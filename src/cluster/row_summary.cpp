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

inline int32_t bucket_of(float value, float scale) {
  const int32_t bucket = static_cast<int32_t>(value * scale);
  return bucket < kBuckets - 1 ? bucket : kBuckets - 1;
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

// Bucket counts of a row, in four interleaved histograms (consecutive values often share
// a bucket, and one counter would make each increment wait for the previous one).
void count_buckets(const int32_t* buckets, int64_t n, int32_t* histograms, int32_t* counts) {
  std::fill(histograms, histograms + 4 * kBuckets, 0);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    ++histograms[buckets[j]];
    ++histograms[kBuckets + buckets[j + 1]];
    ++histograms[2 * kBuckets + buckets[j + 2]];
    ++histograms[3 * kBuckets + buckets[j + 3]];
  }
  for (; j < n; ++j) ++histograms[buckets[j]];
  for (int32_t b = 0; b < kBuckets; ++b) {
    counts[b] =
        (histograms[b] + histograms[kBuckets + b]) + (histograms[2 * kBuckets + b] + histograms[3 * kBuckets + b]);
  }
}

// The sum below is added in kChunk lanes fixed by column index, so its rounding depends
// on the row alone (not on the CPU's vector width), and the chunks that hold a selected
// value are marked for the selection to read again.
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

double add_lanes(const double* lanes) {
  double sum = 0.0;
  for (int64_t i = 0; i < kChunk; ++i) sum += lanes[i];
  return sum;
}

// The float64 sum of the row's values in buckets below k's bucket; marks each chunk that
// holds a value of k's bucket or of a bucket up to kept's bucket.
double sum_below_bucket_portable(const float* row, int64_t n, float scale, const BucketLimits& limits,
                                 uint8_t* chunk_hits) {
  double lanes[kChunk] = {};
  std::fill(chunk_hits, chunk_hits + (n + kChunk - 1) / kChunk, 0);
  for (int64_t j = 0; j < n; ++j) {
    const float x = row[j] * scale;
    if (x < limits.below_k) lanes[j % kChunk] += row[j];
    if (x < limits.above_kept || (x >= limits.below_k && x < limits.above_k)) chunk_hits[j / kChunk] = 1;
  }
  return add_lanes(lanes);
}

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12 warns of an uninitialised variable inside its own AVX-512 headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same with AVX-512 (GCC 12 builds these compares one element at a time from plain
// loops or vector extensions). The tail chunk is read with zeros past the row, which add
// nothing; they may mark the tail chunk, whose real columns the selection then reads.
__attribute__((target("avx512f"))) double sum_below_bucket_avx512(const float* row, int64_t n, float scale,
                                                                  const BucketLimits& limits, uint8_t* chunk_hits) {
  const __m512 scales = _mm512_set1_ps(scale);
  const __m512 below_k = _mm512_set1_ps(limits.below_k);
  const __m512 above_k = _mm512_set1_ps(limits.above_k);
  const __m512 above_kept = _mm512_set1_ps(limits.above_kept);
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
    const __mmask16 hits = _mm512_cmp_ps_mask(x, above_kept, _CMP_LT_OQ) |
                           (static_cast<__mmask16>(~below) & _mm512_cmp_ps_mask(x, above_k, _CMP_LT_OQ));
    chunk_hits[c / kChunk] = static_cast<uint8_t>(hits != 0);
  }
  double lanes[kChunk];
  _mm512_storeu_pd(lanes, low_lanes);
  _mm512_storeu_pd(lanes + 8, high_lanes);
  return add_lanes(lanes);
}
#pragma GCC diagnostic pop
#endif

double sum_below_bucket(const float* row, int64_t n, float scale, const BucketLimits& limits, uint8_t* chunk_hits,
                        SummaryKernel kernel) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && kernel == SummaryKernel::kWidest) return sum_below_bucket_avx512(row, n, scale, limits, chunk_hits);
#endif
  return sum_below_bucket_portable(row, n, scale, limits, chunk_hits);
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
    std::vector<int32_t> buckets(static_cast<size_t>(n));
    std::vector<uint8_t> chunk_hits(static_cast<size_t>((n + kChunk - 1) / kChunk));
    std::vector<float> candidates;
    std::vector<std::pair<float, int64_t>> nearest;
    for (int64_t r = begin; r < end; ++r) {
      float* row = data + r * n;
      out.row_max[r] = finish_distances(row, norms, n, row_norms[r], dim);
      const float scale = bucket_scale(out.row_max[r]);
      bucket_row(row, n, scale, buckets.data());
      count_buckets(buckets.data(), n, histograms.data(), counts.data());
      const auto [k_bucket, k_below] = bucket_of_rank(counts.data(), k);
      const auto [kept_bucket, kept_below] = bucket_of_rank(counts.data(), kept);
      // Values below the k-th's bucket are all among the k smallest and are summed; that
      // bucket's values are collected to select the rest. The kept nearest lie at or
      // below kept_bucket (<= k_bucket, as kept <= k).
      double sum = sum_below_bucket(row, n, scale, bucket_limits(k_bucket, kept_bucket), chunk_hits.data(), kernel);
      candidates.clear();
      nearest.clear();
      for (int64_t c = 0; c < static_cast<int64_t>(chunk_hits.size()); ++c) {
        if (chunk_hits[static_cast<size_t>(c)] == 0) continue;
        for (int64_t j = c * kChunk; j < std::min(n, (c + 1) * kChunk); ++j) {
          const int32_t bucket = buckets[static_cast<size_t>(j)];
          if (bucket == k_bucket) candidates.push_back(row[j]);
          if (bucket <= kept_bucket) nearest.emplace_back(row[j], j);
        }
      }
      // The rest of the k smallest, added in ascending order.
      const int64_t rest = k - k_below;
      CHECK_GE(static_cast<int64_t>(candidates.size()), rest) << "k's bucket lost values";
      std::sort(candidates.begin(), candidates.end());
      for (int64_t i = 0; i < rest; ++i) sum += candidates[static_cast<size_t>(i)];
      out.sums[r] = sum;
      // Pairs order by value, then index: the lower index first among equal distances.
      CHECK_GE(static_cast<int64_t>(nearest.size()), kept) << "kept's bucket lost values";
      std::partial_sort(nearest.begin(), nearest.begin() + kept, nearest.end());
      for (int64_t i = 0; i < kept; ++i) {
        out.kept_values[r * kept + i] = nearest[static_cast<size_t>(i)].first;
        out.kept_index[r * kept + i] = nearest[static_cast<size_t>(i)].second;
      }
    }
  });
}

}  // namespace missrec::cluster
