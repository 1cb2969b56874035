#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace missrec::model {

// Dropout as torch::dropout computes it (each element kept with probability 1 - p and
// scaled by 1/(1 - p)), with a faster mask on the CPU: LibTorch 1.13's CPU bernoulli_
// draws one 64-bit number per element serially, a large part of the step on the CPU
// (docs/performance.md). Here one draw from the default
// generator seeds a counter-based hash of each element's index, so the masks still
// follow the checkpointed generator state. The forward and the backward each multiply in
// one pass that computes the mask as it goes; no mask is stored. Other devices use
// torch::dropout.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

// Elements [begin, begin + count) of the scaled keep mask ({0, 1/(1-p)}, float32) that
// `seed` gives, into out[0, count): what dropout() multiplies by, and what the attention
// kernel regenerates, one (sample, head) block at a time, in its forward and backward.
void dropout_mask(uint64_t seed, double p, int64_t begin, int64_t count, float* out);

// One 64-bit draw from the default CPU generator: a mask's seed.
uint64_t draw_dropout_seed();

}  // namespace missrec::model
