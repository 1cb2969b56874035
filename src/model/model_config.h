#pragma once

#include <cstdint>

#include "runtime/config.h"

namespace missrec::model {

// The model's shape and loss weights: the run configuration's model and loss sections
// (their defaults are the paper's, stated there once) plus what the data decides.
// Filled from the run configuration or a fixture's /config attributes.
struct ModelConfig : runtime::ModelConfig, runtime::LossConfig {
  int64_t text_dim = 512;
  int64_t image_dim = 512;
  int64_t n_items = 0;  // > 0: transductive item ID embeddings [n_items + 1, H]
};

}  // namespace missrec::model
