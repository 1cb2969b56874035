#pragma once

#include <cstdint>
#include <string>

#include "runtime/config.h"

namespace missrec::tools {

// `missrec data synth`: datasets that look like the public MISSRec data.
// Items belong to latent interests shared by all domains (their text and image
// features sit near the interest's centre); popularity is Zipf within an interest;
// users keep to a few interests; history lengths have a mean near 9 with a tail to 50;
// ~30% of images and ~2% of texts are missing (zero rows); text_aug perturbs the text.
struct SynthOptions {
  std::string preset = "demo";  // demo | pretrain | downstream
  uint64_t seed = runtime::RunConfig{}.seed;
  double scale = 1.0;                                        // multiplies item and user counts
  int64_t feature_dim = 512;                                 // text and image
  int64_t interests = 48;                                    // latent interests shared across domains
  int64_t max_seq_len = runtime::ModelConfig{}.max_seq_len;  // histories keep their most recent items
  bool half_features = false;                                // store features as float16
};

struct SynthReport {
  int64_t domains = 0;
  int64_t items = 0;
  int64_t samples = 0;
  double mean_history = 0.0;
};

// demo: OUT/pretrain (five domains, train) and OUT/downstream (one domain, train/valid/
// test); pretrain: OUT with five larger domains; downstream: OUT with one domain.
SynthReport synthesize(const SynthOptions& options, const std::string& out);

}  // namespace missrec::tools
