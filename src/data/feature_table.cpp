#include "data/feature_table.h"

#include <glog/logging.h>

#include <algorithm>

#include "data/h5_file.h"
#include "runtime/error.h"

namespace missrec::data {

namespace {
constexpr int64_t kBlockBytes = 4 << 20;
}

const char* feature_dataset(FeatureKind kind) {
  switch (kind) {
    case FeatureKind::kText:
      return "/items/text";
    case FeatureKind::kImage:
      return "/items/image";
    case FeatureKind::kTextAug:
      return "/items/text_aug";
  }
  return "";
}

void for_each_feature_block(const Dataset& dataset, FeatureKind kind,
                            const std::function<void(const DomainInfo&, int64_t, const at::Tensor&)>& visit) {
  for_each_feature_block(dataset, kind, 1, dataset.total_items() + 1, visit);
}

void for_each_feature_block(const Dataset& dataset, FeatureKind kind, int64_t first_id, int64_t end_id,
                            const std::function<void(const DomainInfo&, int64_t, const at::Tensor&)>& visit) {
  const int64_t dim = kind == FeatureKind::kImage ? dataset.image_dim() : dataset.text_dim();
  const int64_t block_rows = std::max<int64_t>(1, kBlockBytes / (dim * 4));
  const std::string name = feature_dataset(kind);
  at::Tensor buffer = at::empty({block_rows, dim}, at::kFloat);
  for (const DomainInfo& domain : dataset.domains()) {
    for (const ShardInfo& shard : domain.shards) {
      const int64_t shard_first = domain.first_global_id + shard.item_offset;
      const int64_t begin = std::max<int64_t>(0, first_id - shard_first);
      const int64_t end = std::min<int64_t>(shard.n_items, end_id - shard_first);
      if (begin >= end) continue;
      const H5File file = H5File::open_read(shard.path);
      for (int64_t row = begin; row < end; row += block_rows) {
        const int64_t rows = std::min(block_rows, end - row);
        at::Tensor block = buffer.narrow(0, 0, rows);
        file.read_float_rows(name, row, rows, block.data_ptr<float>());
        if (!at::isfinite(block).all().item<bool>()) {
          const int64_t bad = at::isfinite(block).all(1).logical_not().nonzero()[0][0].item<int64_t>();
          runtime::throw_input_error(shard.path + ": " + name,
                                     "row " + std::to_string(row + bad) + " has non-finite values");
        }
        visit(domain, shard_first + row, block);
      }
    }
  }
}

namespace {

// Tables of `rows` rows whose row r holds global id r + first_id - row_of_first: the
// rows of ids [first_id, first_id + count) are read, the others stay zero.
FeatureTables load_rows(const Dataset& dataset, int64_t rows, int64_t row_of_first, int64_t first_id, int64_t count,
                        at::Device device, at::ScalarType dtype) {
  auto options = at::TensorOptions().dtype(dtype).device(device);
  FeatureTables tables;
  auto load = [&](FeatureKind kind, int64_t dim) {
    at::Tensor table = at::zeros({rows, dim}, options);
    for_each_feature_block(dataset, kind, first_id, first_id + count,
                           [&](const DomainInfo&, int64_t first, const at::Tensor& block) {
                             table.narrow(0, first - first_id + row_of_first, block.size(0)).copy_(block);
                           });
    return table;
  };
  tables.text = load(FeatureKind::kText, dataset.text_dim());
  tables.image = load(FeatureKind::kImage, dataset.image_dim());
  if (dataset.has_text_aug()) tables.text_aug = load(FeatureKind::kTextAug, dataset.text_dim());
  return tables;
}

}  // namespace

FeatureTables load_feature_tables(const Dataset& dataset, at::Device device, at::ScalarType dtype) {
  const int64_t items = dataset.total_items();
  return load_rows(dataset, items + 1, 1, 1, items, device, dtype);
}

FeatureTables load_feature_rows(const Dataset& dataset, int64_t first_id, int64_t count, at::Device device,
                                at::ScalarType dtype) {
  CHECK(first_id >= 1 && count >= 0 && first_id + count <= dataset.total_items() + 1)
      << "feature rows [" << first_id << ", " << first_id + count << ") outside the dataset's items";
  return load_rows(dataset, count, 0, first_id, count, device, dtype);
}

}  // namespace missrec::data
