#include "model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>

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

}  // namespace

uint64_t draw_dropout_seed() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

void dropout_mask(uint64_t seed, double p, int64_t begin, int64_t count, float* out) {
  TORCH_CHECK(begin >= 0 && begin + count <= (int64_t{1} << 32), "dropout mask elements [", begin, ", ", begin + count,
              "): at most 2^32");
  const auto keep_below = static_cast<uint32_t>((1.0 - p) * (1u << 24));
  fill_mask(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), keep_below,
            static_cast<float>(1.0 / (1.0 - p)), begin, begin + count, out);
}

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (p <= 0.0 || !training) return x;
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat) return torch::dropout(x, p, true);
  torch::Tensor mask = torch::empty(x.sizes(), x.options().requires_grad(false));
  dropout_mask(draw_dropout_seed(), p, 0, mask.numel(), mask.data_ptr<float>());
  return x * mask;
}

}  // namespace missrec::model
