#include "cluster/interest_refresh.h"

#include <glog/logging.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "runtime/comm.h"
#include "runtime/error.h"

namespace missrec::cluster {

namespace {

// Adaptor outputs for this rank's feature rows (items 1..N, or its share when the
// features are sharded) in row chunks, so float16 tables never need a full float32 copy.
at::Tensor adapted(torch::nn::Linear& adaptor, const model::ItemFeatures& features, const at::Tensor& table) {
  constexpr int64_t kChunk = 16384;
  const int64_t first_row = features.ids.defined() ? 0 : 1;
  const int64_t rows = table.size(0);
  std::vector<at::Tensor> parts;
  for (int64_t first = first_row; first < rows; first += kChunk) {
    parts.push_back(adaptor(table.narrow(0, first, std::min(kChunk, rows - first)).to(at::kFloat)));
  }
  return parts.empty() ? at::empty({0, adaptor->weight.size(0)}, adaptor->weight.options()) : at::cat(parts);
}

TokenRange overlap(const TokenRange& a, const TokenRange& b) {
  const int64_t begin = std::max(a.begin, b.begin);
  return TokenRange{begin, std::max(begin, std::min(a.end, b.end))};
}

// The token ranges of a rank holding items [first, first + count) of `items`: its text
// rows are tokens [first - 1, ...), its image rows tokens [items + first - 1, ...).
std::array<TokenRange, 2> token_ranges(int64_t first, int64_t count, int64_t items) {
  return {TokenRange{first - 1, first - 1 + count}, TokenRange{items + first - 1, items + first - 1 + count}};
}

// This rank's rows of the 2N tokens for the sampled method (sampled_shard), from the
// rows every rank adapted (`text`, `image`: this rank's items, one contiguous range).
// Collective: the ranges' allgather, then one alltoallv of the rows.
at::Tensor to_sampled_shard(const at::Tensor& text, const at::Tensor& image, const model::ItemFeatures& features,
                            const DpcOptions& dpc, runtime::Communicator& comm) {
  const int64_t items = features.items(), count = features.ids.size(0);
  const int64_t first = count > 0 ? features.ids[0].item<int64_t>() : 1;
  CHECK(count == 0 || features.ids[count - 1].item<int64_t>() - first + 1 == count)
      << "rank " << comm.rank() << "'s feature rows are not one range of items";
  const at::Tensor ranges =
      comm.allgather(at::tensor({first, count}, at::kLong).reshape({1, 2}).to(comm.device())).to(at::kCPU);
  const auto mine = token_ranges(first, count, items);
  const std::array<const at::Tensor*, 2> rows{&text, &image};
  std::vector<at::Tensor> parts;
  std::vector<int64_t> send_rows;
  for (int r = 0; r < comm.size(); ++r) {
    const TokenRange shard = sampled_shard(2 * items, dpc, r, comm.size());
    send_rows.push_back(0);
    for (size_t k = 0; k < 2; ++k) {
      const TokenRange part = overlap(mine[k], shard);
      parts.push_back(rows[k]->slice(0, part.begin - mine[k].begin, part.end - mine[k].begin));
      send_rows.back() += part.end - part.begin;
    }
  }
  const at::Tensor received = comm.alltoallv(at::cat(parts), send_rows);
  const TokenRange own = sampled_shard(2 * items, dpc, comm.rank(), comm.size());
  std::vector<at::Tensor> places;  // the received rows' places in the shard, in the order they came
  for (int s = 0; s < comm.size(); ++s) {
    for (const TokenRange& range : token_ranges(ranges[s][0].item<int64_t>(), ranges[s][1].item<int64_t>(), items)) {
      const TokenRange part = overlap(range, own);
      places.push_back(at::arange(part.begin - own.begin, part.end - own.begin, at::kLong));
    }
  }
  const at::Tensor place = at::cat(places).to(received.device());
  CHECK_EQ(place.size(0), own.end - own.begin) << "the ranks' feature rows do not cover the items once";
  return at::empty({own.end - own.begin, received.size(1)}, received.options()).index_copy_(0, place, received);
}

// The refresh's clustering of the 2N tokens [text adaptor(items); image adaptor(items)].
// Sharded features: the sampled method takes each rank's rows of its shard from their
// owners (no rank holds all 2N); the exact method compares all pairs and gathers them.
DpcResult cluster_tokens(model::MissRecImpl& model, const model::ItemFeatures& features, const DpcOptions& dpc,
                         runtime::ClusterMethod method, runtime::Communicator& comm, DpcStats* stats) {
  const bool sampled = method == runtime::ClusterMethod::kSampled;
  if (features.ids.defined() && sampled) {
    // The adapted rows are freed once they are in the shards.
    const at::Tensor rows = to_sampled_shard(adapted(model.text_adaptor, features, features.text),
                                             adapted(model.img_adaptor, features, features.image), features, dpc, comm);
    return dpc_knn_sampled_shard(rows, 2 * features.items(), dpc, comm, stats);
  }
  // Each adaptor's rows, gathered when sharded, are freed once they are in the tokens.
  const auto all_rows = [&](torch::nn::Linear& adaptor, const at::Tensor& table) {
    const at::Tensor mine = adapted(adaptor, features, table);
    return features.ids.defined() ? comm.allgather_variable(mine.contiguous()) : mine;
  };
  const at::Tensor tokens =
      at::cat({all_rows(model.text_adaptor, features.text), all_rows(model.img_adaptor, features.image)});
  CHECK_EQ(tokens.size(0), 2 * features.items()) << "the ranks' feature rows do not cover the items once";
  return sampled ? dpc_knn_sampled(tokens, dpc, comm, stats) : dpc_knn(tokens, dpc, comm, stats);
}

}  // namespace

double interest_checksum(const data::InterestState& state) {
  const at::Tensor weights =
      at::arange(1, state.text_interest.numel() + 1, state.text_interest.options()).to(at::kDouble);
  return (state.text_interest.to(at::kDouble) * weights).sum().item<double>() +
         3.0 * (state.image_interest.to(at::kDouble) * weights).sum().item<double>() +
         state.interest_embeddings.to(at::kDouble).abs().sum().item<double>() + static_cast<double>(state.clusters);
}

data::InterestState refresh_interests(model::MissRecImpl& model, const model::ItemFeatures& features,
                                      const runtime::ClusterConfig& options, runtime::Communicator& comm,
                                      DpcStats* stats) {
  torch::NoGradGuard no_grad;
  const int64_t items = features.items();
  CHECK_GT(items, 0);
  const int64_t n = 2 * items;
  DpcOptions dpc;
  dpc.clusters = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(n * options.interest_ratio)), 1, n);
  dpc.knn_k = options.knn_k > 0
                  ? std::min(options.knn_k, n)
                  : std::clamp<int64_t>(static_cast<int64_t>(std::ceil(n * options.knn_local_ratio)), 1, n);
  dpc.memory_mb = options.memory_mb;
  dpc.sample_size = options.sample_size;
  const DpcResult result = cluster_tokens(model, features, dpc, options.method, comm, stats);

  data::InterestState state;
  state.clusters = dpc.clusters;
  state.knn_k = dpc.knn_k;
  state.interest_embeddings = at::zeros({dpc.clusters + 1, result.centroids.size(1)}, result.centroids.options());
  state.interest_embeddings.narrow(0, 1, dpc.clusters).copy_(result.centroids);
  const at::Tensor ids = result.cluster_index + 1;
  const auto zero = at::zeros({1}, ids.options());
  state.text_interest = at::cat({zero, ids.narrow(0, 0, items)});
  state.image_interest = at::cat({zero, ids.narrow(0, items, items)});

  // Every rank must now hold the same tables.
  const double checksum = interest_checksum(state);
  at::Tensor bounds = at::tensor({checksum, -checksum}, at::TensorOptions().dtype(at::kDouble)).to(comm.device());
  comm.allreduce(bounds, runtime::ReduceOp::kMax);
  bounds = bounds.to(at::kCPU);
  CHECK_EQ(bounds[0].item<double>(), -bounds[1].item<double>())
      << "interest tables differ between ranks after the refresh (checksum on rank " << comm.rank() << ": " << checksum
      << ")";
  return state;
}

void broadcast_interests(data::InterestState& state, int64_t items, int64_t hidden, runtime::Communicator& comm,
                         int root) {
  const at::Device device = comm.device();
  const bool is_root = comm.rank() == root;
  if (is_root && (state.text_interest.numel() != items || state.image_interest.numel() != items)) {
    runtime::throw_input_error("interest tables", "cover " + std::to_string(state.text_interest.numel() - 1) +
                                                      " items, the dataset has " + std::to_string(items - 1));
  }
  at::Tensor rows = at::full({1}, is_root ? state.interest_embeddings.size(0) : 0, at::kLong).to(device);
  comm.broadcast(rows, root);
  const int64_t interest_rows = rows.to(at::kCPU).item<int64_t>();
  at::Tensor embeddings = is_root ? state.interest_embeddings.to(device, at::kFloat).contiguous()
                                  : at::zeros({interest_rows, hidden}, at::TensorOptions().device(device));
  at::Tensor maps = is_root ? at::cat({state.text_interest, state.image_interest}).to(device, at::kLong)
                            : at::zeros({2 * items}, at::TensorOptions().dtype(at::kLong).device(device));
  comm.broadcast(embeddings, root);
  comm.broadcast(maps, root);
  maps = maps.to(at::kCPU);
  state.interest_embeddings = embeddings;
  state.text_interest = maps.narrow(0, 0, items).clone();
  state.image_interest = maps.narrow(0, items, items).clone();
  state.clusters = interest_rows - 1;
}

}  // namespace missrec::cluster
