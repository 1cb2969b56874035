#include "model/attention_kernel.h"

#include <dlfcn.h>

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "model/dropout.h"
#include "runtime/threads.h"

namespace missrec::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The Fortran BLAS SGEMM that LibTorch itself calls, when the process has one (Debian's
// LibTorch links the system BLAS); LibTorch builds with a private BLAS do not export it.
using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                       const int*, const float*, const int*, const float*, float*, const int*);

Sgemm process_sgemm() {
  static const Sgemm sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return sgemm;
}

// C [m, n] = op(A) [m, k] . op(B) [k, n], all row-major: the column-major BLAS computes
// C^T = op(B)^T op(A)^T. Without a BLAS in the process, at::mm on views of the buffers.
void gemm_rows(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (const Sgemm sgemm = process_sgemm()) {
    const int mi = static_cast<int>(n), ni = static_cast<int>(m), ki = static_cast<int>(k);
    const int ldai = static_cast<int>(ldb), ldbi = static_cast<int>(lda), ldci = static_cast<int>(ldc);
    const float one = 1.0f, zero = 0.0f;
    sgemm(transpose_b ? "T" : "N", transpose_a ? "T" : "N", &mi, &ni, &ki, &one, b, &ldai, a, &ldbi, &zero, c, &ldci);
    return;
  }
  const auto view = [](const float* data, int64_t rows, int64_t cols, int64_t ld, bool transpose) {
    const torch::Tensor t = torch::from_blob(
        const_cast<float*>(data), {transpose ? cols : rows, transpose ? rows : cols}, {ld, 1}, torch::kFloat);
    return transpose ? t.t() : t;
  };
  torch::Tensor out = torch::from_blob(c, {m, n}, {ldc, 1}, torch::kFloat);
  at::mm_out(out, view(a, m, k, lda, transpose_a), view(b, k, n, ldb, transpose_b));
}

// One operand [rows, heads, d] with rows of d contiguous floats: where (row, head)'s d
// values start.
struct Operand {
  const float* data;
  int64_t row_stride;
  int64_t dim;
  const float* at(int64_t row, int64_t head) const { return data + row * row_stride + head * dim; }
};

Operand operand_of(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.stride(2) == 1 && x.stride(1) == x.size(2), "attention operand layout");
  return Operand{x.data_ptr<float>(), x.stride(0), x.size(2)};
}

// A [rows, heads, d] operand whose (heads, d) part may be strided is made dense in it.
torch::Tensor with_dense_rows(const torch::Tensor& x) {
  return x.stride(2) == 1 && x.stride(1) == x.size(2) ? x : x.contiguous();
}

// The segments as host vectors of one [4, B] tensor (saved for the backward).
struct SegmentView {
  const int64_t* query_begin;
  const int64_t* query_length;
  const int64_t* key_begin;
  const int64_t* key_length;
  int64_t samples;

  explicit SegmentView(const torch::Tensor& table)
      : query_begin(table[0].data_ptr<int64_t>()),
        query_length(table[1].data_ptr<int64_t>()),
        key_begin(table[2].data_ptr<int64_t>()),
        key_length(table[3].data_ptr<int64_t>()),
        samples(table.size(1)) {}
  int64_t square(int64_t b) const { return query_length[b] * key_length[b]; }
};

torch::Tensor segment_table(const AttentionSegments& segments) {
  const int64_t samples = static_cast<int64_t>(segments.query_begin.size());
  TORCH_CHECK(segments.query_length.size() == static_cast<size_t>(samples) &&
                  segments.key_begin.size() == static_cast<size_t>(samples) &&
                  segments.key_length.size() == static_cast<size_t>(samples),
              "attention segments of unequal sizes");
  torch::Tensor table = torch::empty({4, samples}, torch::kLong);
  const std::vector<int64_t>* columns[] = {&segments.query_begin, &segments.query_length, &segments.key_begin,
                                           &segments.key_length};
  for (int i = 0; i < 4; ++i) std::copy(columns[i]->begin(), columns[i]->end(), table[i].data_ptr<int64_t>());
  return table;
}

// Where each sample's heads x queries x keys probabilities start (the last entry: the
// total); also the index of its first dropout-mask element.
std::vector<int64_t> probability_offsets(const SegmentView& segments, int64_t heads) {
  std::vector<int64_t> offsets(static_cast<size_t>(segments.samples + 1), 0);
  for (int64_t b = 0; b < segments.samples; ++b) {
    offsets[static_cast<size_t>(b + 1)] = offsets[static_cast<size_t>(b)] + heads * segments.square(b);
  }
  return offsets;
}

// Splits the samples into runs of about equal work for the rank's threads and runs
// work(first, last) on each; `offsets` (probability_offsets) measures the work.
void for_sample_runs(const std::vector<int64_t>& offsets, const SegmentView& segments,
                     const std::function<void(int64_t, int64_t)>& work) {
  const int64_t samples = segments.samples;
  const int64_t parts = std::min<int64_t>(runtime::rank_threads(), samples);
  if (parts <= 1) {
    work(0, samples);
    return;
  }
  // Work of sample b: its products, ~ (queries + keys) x keys; its query rows as a floor.
  std::vector<int64_t> cumulative(static_cast<size_t>(samples + 1), 0);
  for (int64_t b = 0; b < samples; ++b) {
    cumulative[static_cast<size_t>(b + 1)] = cumulative[static_cast<size_t>(b)] +
                                             (offsets[static_cast<size_t>(b + 1)] - offsets[static_cast<size_t>(b)]) +
                                             segments.query_length[b] + 1;
  }
  std::vector<int64_t> bounds(static_cast<size_t>(parts + 1), samples);
  bounds[0] = 0;
  for (int64_t part = 1; part < parts; ++part) {
    const int64_t target = cumulative.back() * part / parts;
    bounds[static_cast<size_t>(part)] =
        std::lower_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin();
  }
  runtime::run_parts(parts, [&](int64_t part) {
    const int64_t first = bounds[static_cast<size_t>(part)];
    const int64_t last = std::max(first, bounds[static_cast<size_t>(part + 1)]);
    work(first, last);
  });
}

// The keep mask of one (sample, head) block [queries, keys] into `keep` (null without dropout).
const float* keep_mask(uint64_t seed, double p, int64_t begin, int64_t count, std::vector<float>& keep) {
  if (p <= 0.0) return nullptr;
  if (keep.size() < static_cast<size_t>(count)) keep.resize(static_cast<size_t>(count));
  dropout_mask(seed, p, begin, count, keep.data());
  return keep.data();
}

// The probabilities after dropout, weights[i] * keep[i], into `out`; the probabilities
// themselves without dropout (keep null).
const float* after_dropout(const float* weights, const float* keep, int64_t count, std::vector<float>& out) {
  if (keep == nullptr) return weights;
  if (out.size() < static_cast<size_t>(count)) out.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = weights[i] * keep[i];
  return out.data();
}

class AttentionCore : public torch::autograd::Function<AttentionCore> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, const torch::Tensor& key_padding_in,
                               const torch::Tensor& segment_table, double p, int64_t seed) {
    const torch::Tensor q = with_dense_rows(q_in);
    const torch::Tensor k = with_dense_rows(k_in);
    const torch::Tensor v = with_dense_rows(v_in);
    const torch::Tensor key_padding = key_padding_in.to(torch::kBool).contiguous();
    const SegmentView segments(segment_table);
    const int64_t heads = q.size(1), dim = q.size(2);
    const std::vector<int64_t> offsets = probability_offsets(segments, heads);
    torch::Tensor probabilities = torch::empty({offsets.back()}, q.options());
    torch::Tensor context = torch::empty({q.size(0), heads, dim}, q.options());
    const Operand qo = operand_of(q), ko = operand_of(k), vo = operand_of(v);
    const bool* padding = key_padding.data_ptr<bool>();
    float* probs = probabilities.data_ptr<float>();
    float* out = context.data_ptr<float>();
    const int64_t width = heads * dim;
    const float minus_infinity = -std::numeric_limits<float>::infinity();
    for_sample_runs(offsets, segments, [&](int64_t first, int64_t last) {
      std::vector<float> keep;
      std::vector<float> dropped;
      for (int64_t b = first; b < last; ++b) {
        const int64_t targets = segments.query_length[b], sources = segments.key_length[b];
        const int64_t q0 = segments.query_begin[b], k0 = segments.key_begin[b];
        const int64_t square = targets * sources;
        const bool* masked = padding + k0;
        for (int64_t h = 0; h < heads; ++h) {
          const int64_t block = offsets[static_cast<size_t>(b)] + h * square;
          float* scores = probs + block;
          gemm_rows(false, true, targets, sources, dim, qo.at(q0, h), qo.row_stride, ko.at(k0, h), ko.row_stride,
                    scores, sources);
          for (int64_t t = 0; t < targets; ++t) {
            float* row = scores + t * sources;
            float maximum = minus_infinity;
            for (int64_t j = 0; j < sources; ++j) {
              if (masked[j]) row[j] = minus_infinity;
              maximum = std::max(maximum, row[j]);
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < sources; ++j) {
              row[j] = std::exp(row[j] - maximum);  // all masked: exp(NaN), as softmax gives
              sum += row[j];
            }
            const float inverse = 1.0f / sum;
            for (int64_t j = 0; j < sources; ++j) row[j] *= inverse;
          }
          const float* weights =
              after_dropout(scores, keep_mask(static_cast<uint64_t>(seed), p, block, square, keep), square, dropped);
          gemm_rows(false, false, targets, dim, sources, weights, sources, vo.at(k0, h), vo.row_stride,
                    out + q0 * width + h * dim, width);
        }
      }
    });
    ctx->save_for_backward({q, k, v, probabilities, segment_table});
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return context;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& q = saved[0];
    const torch::Tensor& k = saved[1];
    const torch::Tensor& v = saved[2];
    const torch::Tensor& probabilities = saved[3];
    const SegmentView segments(saved[4]);
    const double p = ctx->saved_data["p"].toDouble();
    const int64_t seed = ctx->saved_data["seed"].toInt();
    const torch::Tensor grad_context = grads[0].contiguous();  // [Tq, heads, d]
    const int64_t heads = q.size(1), dim = q.size(2);
    const int64_t width = heads * dim;
    const std::vector<int64_t> offsets = probability_offsets(segments, heads);
    torch::Tensor grad_q = torch::empty({q.size(0), heads, dim}, q.options());
    torch::Tensor grad_k = torch::empty({k.size(0), heads, dim}, k.options());
    torch::Tensor grad_v = torch::empty({v.size(0), heads, dim}, v.options());
    const Operand qo = operand_of(q), ko = operand_of(k), vo = operand_of(v);
    const float* probs = probabilities.data_ptr<float>();
    const float* dc = grad_context.data_ptr<float>();
    float* dq = grad_q.data_ptr<float>();
    float* dk = grad_k.data_ptr<float>();
    float* dv = grad_v.data_ptr<float>();
    for_sample_runs(offsets, segments, [&](int64_t first, int64_t last) {
      std::vector<float> keep;
      std::vector<float> dropped;
      std::vector<float> grad_scores;
      for (int64_t b = first; b < last; ++b) {
        const int64_t targets = segments.query_length[b], sources = segments.key_length[b];
        const int64_t q0 = segments.query_begin[b], k0 = segments.key_begin[b];
        const int64_t square = targets * sources;
        if (grad_scores.size() < static_cast<size_t>(square)) grad_scores.resize(static_cast<size_t>(square));
        for (int64_t h = 0; h < heads; ++h) {
          const int64_t block = offsets[static_cast<size_t>(b)] + h * square;
          const float* pe = probs + block;
          const float* keep_block = keep_mask(static_cast<uint64_t>(seed), p, block, square, keep);
          const float* weights = after_dropout(pe, keep_block, square, dropped);
          const float* dce = dc + q0 * width + h * dim;
          // dV = weights^T dC; d(weights) = dC V^T.
          gemm_rows(true, false, sources, dim, targets, weights, sources, dce, width, dv + k0 * width + h * dim, width);
          float* ds = grad_scores.data();
          gemm_rows(false, true, targets, sources, dim, dce, width, vo.at(k0, h), vo.row_stride, ds, sources);
          // Through dropout and softmax: dS = P (dP - sum_j P dP).
          for (int64_t t = 0; t < targets; ++t) {
            float* row = ds + t * sources;
            const float* prow = pe + t * sources;
            if (keep_block != nullptr) {
              const float* krow = keep_block + t * sources;
              for (int64_t j = 0; j < sources; ++j) row[j] *= krow[j];
            }
            float dot = 0.0f;
            for (int64_t j = 0; j < sources; ++j) dot += prow[j] * row[j];
            for (int64_t j = 0; j < sources; ++j) row[j] = prow[j] * (row[j] - dot);
          }
          // dQ = dS K; dK = dS^T Q.
          gemm_rows(false, false, targets, dim, sources, ds, sources, ko.at(k0, h), ko.row_stride,
                    dq + q0 * width + h * dim, width);
          gemm_rows(true, false, sources, dim, targets, ds, sources, qo.at(q0, h), qo.row_stride,
                    dk + k0 * width + h * dim, width);
        }
      }
    });
    return {grad_q, grad_k, grad_v, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// Checks that the segments cover every row of q and k once (by count) and each sample
// has a key: every output and gradient row is then written exactly once.
void check_segments(const AttentionSegments& segments, int64_t query_rows, int64_t key_rows) {
  int64_t queries = 0, keys = 0;
  for (size_t b = 0; b < segments.query_length.size(); ++b) {
    CHECK_GE(segments.key_length[b], 1) << "attention: sample " << b << " has no key";
    queries += segments.query_length[b];
    keys += segments.key_length[b];
  }
  CHECK_EQ(queries, query_rows) << "attention segments must cover every query row once";
  CHECK_EQ(keys, key_rows) << "attention segments must cover every key row once";
}

}  // namespace

torch::Tensor attention_dropout_mask(uint64_t seed, double p, at::IntArrayRef shape) {
  torch::Tensor mask = torch::empty(shape, torch::kFloat);
  dropout_mask(seed, p, 0, mask.numel(), mask.data_ptr<float>());
  return mask;
}

torch::Tensor attention_core_packed(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const torch::Tensor& key_padding, const AttentionSegments& segments, double dropout,
                                    bool training) {
  check_segments(segments, q.size(0), k.size(0));
  const double p = training ? dropout : 0.0;
  const int64_t seed = p > 0.0 ? static_cast<int64_t>(draw_dropout_seed()) : 0;
  return AttentionCore::apply(q, k, v, key_padding, segment_table(segments), p, seed);
}

torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& key_padding, double dropout, bool training) {
  const int64_t batch = q.size(0), targets = q.size(1), sources = k.size(1);
  AttentionSegments segments;
  for (int64_t b = 0; b < batch; ++b) {
    segments.query_begin.push_back(b * targets);
    segments.query_length.push_back(targets);
    segments.key_begin.push_back(b * sources);
    segments.key_length.push_back(sources);
  }
  // reshape: a view where the sample stride allows (projections), a copy otherwise.
  const auto rows = [](const torch::Tensor& x) { return x.reshape({x.size(0) * x.size(1), x.size(2), x.size(3)}); };
  return attention_core_packed(rows(q), rows(k), rows(v), key_padding.reshape({-1}), segments, dropout, training)
      .view(q.sizes());
}

torch::Tensor attention_core_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& key_padding, const torch::Tensor& dropout_mask,
                                       double dropout, bool training) {
  // [B, heads, len, d] for the batched products.
  const torch::Tensor qh = q.transpose(1, 2);
  const torch::Tensor kh = k.transpose(1, 2);
  const torch::Tensor vh = v.transpose(1, 2);
  torch::Tensor scores = torch::matmul(qh, kh.transpose(-2, -1));
  scores = scores.masked_fill(key_padding.view({q.size(0), 1, 1, k.size(1)}), -std::numeric_limits<float>::infinity());
  // Softmax in float32 also when matrix products run in bf16 (train.precision).
  torch::Tensor attention = torch::softmax(scores.to(torch::kFloat), -1);
  if (dropout_mask.defined()) {
    attention = attention * dropout_mask.to(attention.device());
  } else {
    attention = model::dropout(attention, dropout, training);
  }
  return torch::matmul(attention, vh).transpose(1, 2);
}

}  // namespace missrec::model
