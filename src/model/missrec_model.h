#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "model/model_config.h"
#include "model/transformer.h"

namespace missrec::model {

// Item feature tables: every item's (row i is item i, row 0 the zero padding row; `ids`
// undefined) or the rows of some items only (`ids`: their sorted global ids, on the
// tables' device; a rank's share or the rows a batch fetched, data.feature_sharding).
struct ItemFeatures {
  torch::Tensor text;      // [N+1 or rows, Dt]
  torch::Tensor image;     // [N+1 or rows, Di]
  torch::Tensor text_aug;  // [N+1 or rows, Dt] or undefined
  torch::Tensor ids;       // [rows] int64 sorted, or undefined
  int64_t catalogue = 0;   // N, the dataset's items, when `ids` is defined

  int64_t items() const { return ids.defined() ? catalogue : text.size(0) - 1; }
  // The rows of `items` (any shape, every id among the rows held) in the tables.
  torch::Tensor rows_of(const torch::Tensor& items) const {
    return ids.defined() ? torch::searchsorted(ids, items) : items;
  }
};

// One view of a batch, on the model's device.
struct SequenceInput {
  torch::Tensor item_seq;       // [B, L] int64 global ids, 0 = padding (any width >= longest)
  torch::Tensor item_length;    // [B] int64
  torch::Tensor interest_seq;   // [B, U] int64 interest ids, 0 = padding
  torch::Tensor text_aug_mask;  // [B, L] bool (word drop) or undefined
  // CPU copies of item_length and interest_seq, when the caller has them: the
  // length-aware path groups samples on the host, and reading a GPU tensor back would
  // make the host wait for the device.
  torch::Tensor host_item_length;
  torch::Tensor host_interest_seq;
};

struct SequenceOutput {
  torch::Tensor z;       // [B, H] L2-normalised sequence vectors
  torch::Tensor memory;  // [B, U, H] encoder output
  torch::Tensor reg;     // scalar interest diversity regulariser
};

// Adaptor outputs computed once per distinct item row of a step (both views and the
// targets share them): text_adaptor/img_adaptor rows for `ids`, and text_adaptor rows of
// text_aug for `aug_ids` (the word-dropped positions).
struct AdaptedItems {
  torch::Tensor ids;         // [M] sorted distinct global ids
  torch::Tensor text;        // [M, H]
  torch::Tensor image;       // [M, H]
  torch::Tensor aug_ids;     // [M'] or undefined
  torch::Tensor text_aug;    // [M', H]
  int64_t first_aug_id = 0;  // aug_ids[0], read where the ids were found (0 when none)
};

struct PretrainLosses {
  torch::Tensor seq_item;  // L_si
  torch::Tensor seq_seq;   // L_ss
  torch::Tensor reg;       // reg of the view
  torch::Tensor reg_aug;   // reg of the augmented view
  torch::Tensor total;     // L_si + lambda L_ss + gamma (reg + reg_aug)
};

struct FinetuneLosses {
  torch::Tensor cross_entropy;  // CE(scores, target) summed over the rows
  torch::Tensor total;          // cross_entropy / global_batch + gamma reg
};

// MISSRec with the public implementation's parameter names.
class MissRecImpl : public torch::nn::Module {
 public:
  explicit MissRecImpl(const ModelConfig& config);

  const ModelConfig& config() const { return config_; }

  // Whether the model has item ID embeddings (transductive fine-tuning): they are added
  // to every history position's input and scored beside the item features.
  bool has_item_ids() const { return !item_embedding.is_empty(); }

  // Linear/Embedding weights N(0, 0.02), biases 0, LayerNorm 1/0, fusion_factor 0.
  void reset_parameters(uint64_t seed);

  // Sequence vectors z and the regulariser of one view.
  SequenceOutput encode(const SequenceInput& input, const ItemFeatures& features,
                        const torch::Tensor& interest_embeddings);

  // The same function computed at the cost the data needs (the exact same function as encode(),
  // up to float rounding): item embeddings are gathered from adaptor rows computed once
  // per distinct item, and the samples run in groups of similar length, each at its own
  // history width and interest width. The regulariser still counts every one of the
  // batch's `interest_width` interest positions: padded interest positions of a sample
  // all have the same encoder output, so their sum is that output times their number.
  SequenceOutput encode_by_length(const SequenceInput& input, const AdaptedItems& adapted,
                                  const torch::Tensor& interest_embeddings);

  // Adaptor rows for every item in `id_tensors` (any shapes; 0 = padding included), and
  // text_aug rows for the items at the `aug_mask` positions of `aug_items`.
  AdaptedItems adapt_items(const std::vector<torch::Tensor>& id_tensors, const ItemFeatures& features,
                           const torch::Tensor& aug_items = {}, const torch::Tensor& aug_mask = {});

  // Normalised text and image vectors of `items` from adapted rows.
  std::pair<torch::Tensor, torch::Tensor> item_vectors(const torch::Tensor& items, const AdaptedItems& adapted);

  // Normalised text and image item vectors [M, H] each.
  std::pair<torch::Tensor, torch::Tensor> item_vectors(const torch::Tensor& items, const ItemFeatures& features);

  // Fused logits [B, M] of sequences z against items; with item ID
  // embeddings (transductive) (z·id + 2ℓ)/3.
  torch::Tensor logits(const torch::Tensor& z, const torch::Tensor& item_text, const torch::Tensor& item_image,
                       const torch::Tensor& items = {});

  // The pretraining loss with the batch's own samples as in-batch
  // candidates (global negatives across ranks come with distributed training).
  PretrainLosses pretrain_loss(const SequenceOutput& view, const SequenceOutput& aug, const torch::Tensor& pos_items,
                               const ItemFeatures& features);

  // Fine-tuning scores [B, N+1] of sequences z against every item 0..N (`adapted` holds
  // exactly the ids 0..N; column j is item j), divided by the temperature. Column 0, the
  // padding item, is a candidate of the fine-tuning softmax as in the public
  // implementation; rankings leave it out.
  torch::Tensor all_item_scores(const torch::Tensor& z, const AdaptedItems& adapted);

  // The fine-tuning loss of a rank's rows of a global batch of `global_batch` rows:
  // CE(scores, pos_items) summed, over global_batch, plus gamma times the rows' regulariser
  // (summed over ranks, the loss of the whole batch).
  FinetuneLosses finetune_loss(const torch::Tensor& scores, const torch::Tensor& pos_items, const torch::Tensor& reg,
                               int64_t global_batch);

  // Parameters by their public-implementation names.
  std::map<std::string, torch::Tensor> named_tensors();

  torch::nn::Linear text_adaptor{nullptr};
  torch::nn::Linear img_adaptor{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::Tensor fusion_factor;
  Transformer trm_model{nullptr};
  torch::nn::Embedding item_embedding{nullptr};

 private:
  // The decoder input [.., H] plus the item ID embeddings of `items` when the model has them.
  torch::Tensor with_item_ids(const torch::Tensor& inputs, const torch::Tensor& items);
  // encode_by_length's parts: the packed decoder input [T, H] of the history tokens
  // (`item_ids` [T], laid out as `items`), and the outputs (z, reg) from the decoder's
  // packed output and the encoder's memory.
  torch::Tensor packed_decoder_input(const SequenceInput& input, const AdaptedItems& adapted, const PackedLayout& items,
                                     const torch::Tensor& item_ids);
  SequenceOutput packed_output(const SequenceInput& input, const torch::Tensor& lengths,
                               const std::vector<int64_t>& interest_tokens, const PackedLayout& items,
                               const PackedLayout& interests, const torch::Tensor& decoded,
                               const torch::Tensor& memory);

  ModelConfig config_;
};
TORCH_MODULE(MissRec);

// Gathers rows (ItemFeatures::rows_of) of a feature table as float32 (tables may be
// stored as float16).
torch::Tensor gather_features(const torch::Tensor& table, const torch::Tensor& rows);

}  // namespace missrec::model
