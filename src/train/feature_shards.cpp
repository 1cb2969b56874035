#include "train/feature_shards.h"

#include <glog/logging.h>

#include <cmath>

#include "data/feature_table.h"
#include "runtime/comm.h"
#include "runtime/stopwatch.h"
#include "train/model_setup.h"

namespace missrec::train {

bool shard_features(const runtime::DataConfig& data, const data::Dataset& dataset, int ranks) {
  switch (data.feature_sharding) {
    case runtime::FeatureSharding::kReplicated:
      return false;
    case runtime::FeatureSharding::kSharded:
      return true;
    case runtime::FeatureSharding::kAuto:
      break;
  }
  const int64_t width = dataset.text_dim() + dataset.image_dim() + (dataset.has_text_aug() ? dataset.text_dim() : 0);
  const auto element = static_cast<int64_t>(c10::elementSize(feature_dtype_of(data)));
  const double megabytes = static_cast<double>(dataset.total_items() + 1) * width * element / 1e6;
  return ranks > 1 && megabytes > static_cast<double>(data.shard_above_mb);
}

int64_t feature_bytes(const model::ItemFeatures& features) {
  return features.text.nbytes() + features.image.nbytes() +
         (features.text_aug.defined() ? features.text_aug.nbytes() : 0);
}

FeatureShards::FeatureShards(const data::Dataset& dataset, at::ScalarType dtype, runtime::Communicator& comm)
    : comm_(comm), items_(dataset.total_items()), firsts_(torch::empty({comm.size() + 1}, torch::kLong)) {
  for (int r = 0; r <= comm.size(); ++r) firsts_[r] = first_id(items_, comm.size(), r);
  const int64_t first = first_id(items_, comm.size(), comm.rank());
  const int64_t count = first_id(items_, comm.size(), comm.rank() + 1) - first;
  const data::FeatureTables tables = data::load_feature_rows(dataset, first, count, comm.device(), dtype);
  own_ = model::ItemFeatures{
      tables.text, tables.image, tables.text_aug,
      torch::arange(first, first + count, torch::TensorOptions().dtype(torch::kLong)).to(comm.device()), items_};
  log_shares();
  // The step runs on the main thread; the exchanges of a CPU run's rows on their own.
  if (comm.device().is_cpu()) exchange_comm_ = comm.duplicate();
}

void FeatureShards::log_shares() {
  const int64_t first = firsts_[comm_.rank()].item<int64_t>();
  const torch::Tensor mine = torch::tensor({first, first + own_.text.size(0), feature_bytes(own_)}, torch::kLong);
  const torch::Tensor all = comm_.allgather(mine.to(comm_.device())).to(torch::kCPU).view({comm_.size(), 3});
  for (int r = 0; r < comm_.size() && comm_.rank() == 0; ++r) {
    LOG(INFO) << "item features sharded: ids [" << all[r][0].item<int64_t>() << ", " << all[r][1].item<int64_t>()
              << ") of " << items_ << " on rank " << r << ", " << all[r][2].item<int64_t>() << " bytes";
  }
}

FeatureShards::~FeatureShards() {
  if (pending_.valid()) pending_.wait();
  if (fetches_ == 0) return;
  const double steps = static_cast<double>(fetches_);
  LOG(INFO) << "item features: " << prefetched_ << " of " << fetches_
            << " steps' rows fetched while the previous step ran; an exchange took "
            << static_cast<double>(exchange_us_.load()) / 1e3 / steps << " ms, a step waited "
            << static_cast<double>(wait_us_) / 1e3 / steps << " ms for its rows (means)";
}

namespace {

// The distinct ids of a batch's id tensors, sorted (host int64).
torch::Tensor distinct_ids(const std::vector<torch::Tensor>& id_tensors, int64_t items) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& ids : id_tensors) flat.push_back(ids.reshape({-1}).to(torch::kCPU, torch::kLong));
  const torch::Tensor ids = std::get<0>(torch::_unique(torch::cat(flat), /*sorted=*/true));
  CHECK(ids.numel() == 0 || (ids[0].item<int64_t>() >= 0 && ids[-1].item<int64_t>() <= items))
      << "a batch refers to an item outside 0.." << items;
  return ids;
}

}  // namespace

model::ItemFeatures FeatureShards::fetch(int64_t key, const std::vector<torch::Tensor>& id_tensors) {
  const runtime::Stopwatch clock;
  ++fetches_;
  if (pending_.valid()) {
    const int64_t prefetched_key = pending_key_;
    model::ItemFeatures prefetched = pending_.get();
    if (prefetched_key == key) {
      ++prefetched_;
      wait_us_ += std::llround(clock.elapsed() * 1e6);
      return prefetched;
    }
  }
  model::ItemFeatures rows = exchange(exchange_comm_ ? *exchange_comm_ : comm_, distinct_ids(id_tensors, items_));
  wait_us_ += std::llround(clock.elapsed() * 1e6);
  return rows;
}

void FeatureShards::prefetch(int64_t key, const std::vector<torch::Tensor>& id_tensors) {
  if (!exchange_comm_) return;
  CHECK(!pending_.valid()) << "a feature prefetch is already under way";
  torch::Tensor ids = distinct_ids(id_tensors, items_);
  pending_key_ = key;
  pending_ = std::async(std::launch::async, [this, ids = std::move(ids)] { return exchange(*exchange_comm_, ids); });
}

model::ItemFeatures FeatureShards::exchange(runtime::Communicator& comm, const torch::Tensor& ids) const {
  const runtime::Stopwatch clock;
  const bool has_padding = ids.numel() > 0 && ids[0].item<int64_t>() == 0;
  const torch::Tensor wanted = has_padding ? ids.narrow(0, 1, ids.numel() - 1) : ids;

  // Sorted ids, contiguous owners in rank order: owner r's ids sit between the bounds.
  const torch::Tensor bounds = torch::searchsorted(wanted, firsts_);
  const int64_t* bound = bounds.data_ptr<int64_t>();
  std::vector<int64_t> send_rows(comm.size());
  for (int r = 0; r < comm.size(); ++r) send_rows[r] = bound[r + 1] - bound[r];
  std::vector<int64_t> asked_rows;
  const torch::Tensor asked = comm.alltoallv(wanted.to(comm.device()), send_rows, &asked_rows);

  // The asked rows of each kind side by side, one reply, split again by columns.
  const torch::Tensor local = asked - firsts_[comm.rank()].item<int64_t>();
  std::vector<torch::Tensor> kinds = {own_.text.index_select(0, local), own_.image.index_select(0, local)};
  if (own_.text_aug.defined()) kinds.push_back(own_.text_aug.index_select(0, local));
  torch::Tensor rows = comm.alltoallv(torch::cat(kinds, 1).contiguous(), asked_rows);
  if (has_padding) rows = torch::cat({torch::zeros({1, rows.size(1)}, rows.options()), rows});

  model::ItemFeatures fetched;
  const int64_t text_dim = own_.text.size(1);
  const int64_t image_dim = own_.image.size(1);
  fetched.text = rows.narrow(1, 0, text_dim);
  fetched.image = rows.narrow(1, text_dim, image_dim);
  if (own_.text_aug.defined()) fetched.text_aug = rows.narrow(1, text_dim + image_dim, text_dim);
  fetched.ids = ids.to(comm.device());
  fetched.catalogue = items_;
  exchange_us_ += std::llround(clock.elapsed() * 1e6);
  return fetched;
}

}  // namespace missrec::train
