#pragma once

#include <cstdint>
#include <string>

namespace missrec::model {

// The model's shape and loss weights, filled from the run configuration or a
// fixture's /config attributes. Kept free of the runtime config so the model layer does
// not depend on it.
struct ModelConfig {
  int64_t hidden_size = 300;
  int64_t n_heads = 4;
  int64_t n_layers = 2;  // encoder + decoder layers, half each
  int64_t inner_size = 256;
  double dropout = 0.5;
  double attn_dropout = 0.5;
  int64_t max_seq_len = 50;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";
  int64_t text_dim = 512;
  int64_t image_dim = 512;
  double temperature = 0.07;
  double lambda = 1e-3;  // weight of the seq-seq loss
  double gamma = 1e-4;   // weight of the interest regulariser
  int64_t n_items = 0;   // > 0: transductive item ID embeddings [n_items + 1, H]
};

}  // namespace missrec::model
