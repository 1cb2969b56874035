#include "model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <mutex>

#include "runtime/vector_clones.h"

namespace missrec::model {

namespace {

// murmur3's 32-bit finaliser: a bijection whose output bits all depend on every input bit.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bU;
  x ^= x >> 13;
  x *= 0xc2b2ae35U;
  x ^= x >> 16;
  return x;
}

// Element i (written to out[i - begin]) is kept when 24 bits of mix32(mix32(i ^ low) + high) fall below (1 - p) 2^24.
MISSREC_VECTOR_CLONES void fill_mask(uint32_t low, uint32_t high, uint32_t keep_below, float scale, int64_t begin,
                                     int64_t end, float* __restrict out) {
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t bits = mix32(mix32(static_cast<uint32_t>(i) ^ low) + high) >> 8;
    out[i - begin] = bits < keep_below ? scale : 0.0f;
  }
}

// out[i] = in[i] * (element begin + i kept ? scale : 0): the product dropout's x * mask
// gives, without the mask in memory.
MISSREC_VECTOR_CLONES void scale_by_mask(uint32_t low, uint32_t high, uint32_t keep_below, float scale, int64_t begin,
                                         int64_t end, const float* __restrict in, float* __restrict out) {
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t bits = mix32(mix32(static_cast<uint32_t>(i) ^ low) + high) >> 8;
    out[i - begin] = in[i - begin] * (bits < keep_below ? scale : 0.0f);
  }
}

uint32_t keep_threshold(double p) { return static_cast<uint32_t>((1.0 - p) * (1u << 24)); }

// x * mask(seed) in one pass over x, on the intra-op threads; the mask is never stored.
torch::Tensor masked(const torch::Tensor& x_in, uint64_t seed, double p) {
  const torch::Tensor x = x_in.contiguous();
  TORCH_CHECK(x.numel() <= (int64_t{1} << 32), "dropout of ", x.numel(), " elements: at most 2^32");
  torch::Tensor out = torch::empty_like(x);
  const float* in = x.data_ptr<float>();
  float* result = out.data_ptr<float>();
  const auto low = static_cast<uint32_t>(seed), high = static_cast<uint32_t>(seed >> 32);
  const auto scale = static_cast<float>(1.0 / (1.0 - p));
  at::parallel_for(0, x.numel(), 32768, [&](int64_t begin, int64_t end) {
    scale_by_mask(low, high, keep_threshold(p), scale, begin, end, in + begin, result + begin);
  });
  return out;
}

class MaskedDropout : public torch::autograd::Function<MaskedDropout> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, double p, int64_t seed) {
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return masked(x, static_cast<uint64_t>(seed), p);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    return {masked(grads[0], seed, ctx->saved_data["p"].toDouble()), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

uint64_t draw_dropout_seed() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

void dropout_mask(uint64_t seed, double p, int64_t begin, int64_t count, float* out) {
  TORCH_CHECK(begin >= 0 && begin + count <= (int64_t{1} << 32), "dropout mask elements [", begin, ", ", begin + count,
              "): at most 2^32");
  fill_mask(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), keep_threshold(p),
            static_cast<float>(1.0 / (1.0 - p)), begin, begin + count, out);
}

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (p <= 0.0 || !training) return x;
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat) return torch::dropout(x, p, true);
  return MaskedDropout::apply(x, p, static_cast<int64_t>(draw_dropout_seed()));
}

}  // namespace missrec::model
