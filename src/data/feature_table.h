#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace missrec::data {

enum class FeatureKind { kText, kImage, kTextAug };
const char* feature_dataset(FeatureKind kind);  // "/items/text", ...

// Streams one kind of feature over every shard of every domain in ~4 MiB row blocks,
// checks the values are finite (InputError naming file, dataset and row otherwise) and
// hands each block to `visit` as a float32 CPU tensor [rows, D] with the global id of
// its first row.
void for_each_feature_block(
    const Dataset& dataset, FeatureKind kind,
    const std::function<void(const DomainInfo&, int64_t first_global_id, const at::Tensor&)>& visit);

// The same over the rows of global ids [first_id, end_id) only: shards outside the range
// are not opened.
void for_each_feature_block(
    const Dataset& dataset, FeatureKind kind, int64_t first_id, int64_t end_id,
    const std::function<void(const DomainInfo&, int64_t first_global_id, const at::Tensor&)>& visit);

// The item feature tables of [n_items + 1, D] on `device` in `dtype`, row 0
// (padding) zero, indexed by global item id. text_aug is undefined when a domain lacks it.
struct FeatureTables {
  at::Tensor text;
  at::Tensor image;
  at::Tensor text_aug;
};

FeatureTables load_feature_tables(const Dataset& dataset, at::Device device, at::ScalarType dtype);

// The rows of global ids [first_id, first_id + count) only, [count, D] each (row i is
// item first_id + i; no padding row): one rank's share when features are sharded.
FeatureTables load_feature_rows(const Dataset& dataset, int64_t first_id, int64_t count, at::Device device,
                                at::ScalarType dtype);

}  // namespace missrec::data
