#include "model/attention_kernel.h"

#include <dlfcn.h>

#include <cmath>
#include <limits>
#include <vector>

#include "model/dropout.h"

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

// The probabilities after dropout, weights[i] * keep[i], into `out`; the probabilities
// themselves without dropout (keep null).
const float* after_dropout(const float* weights, const float* keep, int64_t count, std::vector<float>& out) {
  if (keep == nullptr) return weights;
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = weights[i] * keep[i];
  return out.data();
}

// One operand [B, len, heads, d] with rows of d contiguous floats: where (sample, head)'s
// [len, d] matrix starts and its row stride.
struct Operand {
  const float* data;
  int64_t sample_stride;
  int64_t row_stride;
  int64_t dim;
  const float* at(int64_t sample, int64_t head) const { return data + sample * sample_stride + head * dim; }
};

Operand operand_of(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.stride(3) == 1 && x.stride(2) == x.size(3), "attention operand layout");
  return Operand{x.data_ptr<float>(), x.stride(0), x.stride(1), x.size(3)};
}

// A [B, len, heads, d] operand whose (heads, d) part may be strided is made dense in it.
torch::Tensor with_dense_rows(const torch::Tensor& x) {
  return x.stride(3) == 1 && x.stride(2) == x.size(3) ? x : x.contiguous();
}

class AttentionCore : public torch::autograd::Function<AttentionCore> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, const torch::Tensor& key_padding_in, double p, int64_t seed) {
    const torch::Tensor q = with_dense_rows(q_in);
    const torch::Tensor k = with_dense_rows(k_in);
    const torch::Tensor v = with_dense_rows(v_in);
    const torch::Tensor key_padding = key_padding_in.to(torch::kBool).contiguous();
    const int64_t batch = q.size(0), targets = q.size(1), heads = q.size(2), dim = q.size(3);
    const int64_t sources = k.size(1);
    const int64_t square = targets * sources;
    torch::Tensor probabilities = torch::empty({batch, heads, targets, sources}, q.options());
    torch::Tensor context = torch::empty({batch, targets, heads, dim}, q.options());
    torch::Tensor mask;
    if (p > 0.0) mask = attention_dropout_mask(static_cast<uint64_t>(seed), p, probabilities.sizes());
    const Operand qo = operand_of(q), ko = operand_of(k), vo = operand_of(v);
    const bool* padding = key_padding.data_ptr<bool>();
    float* probs = probabilities.data_ptr<float>();
    float* out = context.data_ptr<float>();
    const float* mask_p = mask.defined() ? mask.data_ptr<float>() : nullptr;
    std::vector<float> dropped(static_cast<size_t>(mask_p != nullptr ? square : 0));
    const float minus_infinity = -std::numeric_limits<float>::infinity();
    for (int64_t b = 0; b < batch; ++b) {
      const bool* masked = padding + b * sources;
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t e = b * heads + h;
        float* scores = probs + e * square;
        gemm_rows(false, true, targets, sources, dim, qo.at(b, h), qo.row_stride, ko.at(b, h), ko.row_stride, scores,
                  sources);
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
            after_dropout(scores, mask_p != nullptr ? mask_p + e * square : nullptr, square, dropped);
        gemm_rows(false, false, targets, dim, sources, weights, sources, vo.at(b, h), vo.row_stride,
                  out + b * targets * heads * dim + h * dim, heads * dim);
      }
    }
    ctx->save_for_backward({q, k, v, probabilities});
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
    const double p = ctx->saved_data["p"].toDouble();
    const torch::Tensor grad_context = grads[0].contiguous();  // [B, T, heads, d]
    const int64_t batch = q.size(0), targets = q.size(1), heads = q.size(2), dim = q.size(3);
    const int64_t sources = k.size(1);
    const int64_t square = targets * sources;
    const int64_t width = heads * dim;
    torch::Tensor mask;
    if (p > 0.0) {
      mask = attention_dropout_mask(static_cast<uint64_t>(ctx->saved_data["seed"].toInt()), p, probabilities.sizes());
    }
    torch::Tensor grad_q = torch::empty({batch, targets, heads, dim}, q.options());
    torch::Tensor grad_k = torch::empty({batch, sources, heads, dim}, k.options());
    torch::Tensor grad_v = torch::empty({batch, sources, heads, dim}, v.options());
    const Operand qo = operand_of(q), ko = operand_of(k), vo = operand_of(v);
    const float* probs = probabilities.data_ptr<float>();
    const float* dc = grad_context.data_ptr<float>();
    const float* mask_p = mask.defined() ? mask.data_ptr<float>() : nullptr;
    float* dq = grad_q.data_ptr<float>();
    float* dk = grad_k.data_ptr<float>();
    float* dv = grad_v.data_ptr<float>();
    std::vector<float> grad_scores(static_cast<size_t>(square));
    std::vector<float> dropped(static_cast<size_t>(mask_p != nullptr ? square : 0));
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t e = b * heads + h;
        const float* pe = probs + e * square;
        const float* keep = mask_p != nullptr ? mask_p + e * square : nullptr;
        const float* weights = after_dropout(pe, keep, square, dropped);
        const float* dce = dc + b * targets * width + h * dim;
        // dV = weights^T dC; d(weights) = dC V^T.
        gemm_rows(true, false, sources, dim, targets, weights, sources, dce, width, dv + b * sources * width + h * dim,
                  width);
        float* ds = grad_scores.data();
        gemm_rows(false, true, targets, sources, dim, dce, width, vo.at(b, h), vo.row_stride, ds, sources);
        // Through dropout and softmax: dS = P (dP - sum_j P dP).
        for (int64_t t = 0; t < targets; ++t) {
          float* row = ds + t * sources;
          const float* prow = pe + t * sources;
          if (keep != nullptr) {
            const float* krow = keep + t * sources;
            for (int64_t j = 0; j < sources; ++j) row[j] *= krow[j];
          }
          float dot = 0.0f;
          for (int64_t j = 0; j < sources; ++j) dot += prow[j] * row[j];
          for (int64_t j = 0; j < sources; ++j) row[j] = prow[j] * (row[j] - dot);
        }
        // dQ = dS K; dK = dS^T Q.
        gemm_rows(false, false, targets, dim, sources, ds, sources, ko.at(b, h), ko.row_stride,
                  dq + b * targets * width + h * dim, width);
        gemm_rows(true, false, sources, dim, targets, ds, sources, qo.at(b, h), qo.row_stride,
                  dk + b * sources * width + h * dim, width);
      }
    }
    return {grad_q, grad_k, grad_v, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor attention_dropout_mask(uint64_t seed, double p, at::IntArrayRef shape) {
  torch::Tensor mask = torch::empty(shape, torch::kFloat);
  dropout_mask(seed, p, mask.numel(), mask.data_ptr<float>());
  return mask;
}

torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& key_padding, double dropout, bool training) {
  const double p = training ? dropout : 0.0;
  const int64_t seed = p > 0.0 ? static_cast<int64_t>(draw_dropout_seed()) : 0;
  return AttentionCore::apply(q, k, v, key_padding, p, seed);
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
