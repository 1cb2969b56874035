#include "cluster/interest_refresh.h"

#include <glog/logging.h>

#include <cmath>

#include "runtime/comm.h"
#include "runtime/error.h"

namespace missrec::cluster {

namespace {

// Adaptor outputs for items 1..N in row chunks, so float16 tables never need a full
// float32 copy. Sharded features: each rank adapts its own rows, and the ranks' rows,
// contiguous ranges in rank order, are gathered into the N rows.
at::Tensor adapted(torch::nn::Linear& adaptor, const model::ItemFeatures& features, const at::Tensor& table,
                   runtime::Communicator& comm) {
  constexpr int64_t kChunk = 16384;
  const int64_t first_row = features.ids.defined() ? 0 : 1;
  const int64_t rows = table.size(0);
  std::vector<at::Tensor> parts;
  for (int64_t first = first_row; first < rows; first += kChunk) {
    parts.push_back(adaptor(table.narrow(0, first, std::min(kChunk, rows - first)).to(at::kFloat)));
  }
  at::Tensor mine = parts.empty() ? at::empty({0, adaptor->weight.size(0)}, adaptor->weight.options()) : at::cat(parts);
  if (!features.ids.defined()) return mine;
  at::Tensor all = comm.allgather_variable(mine.contiguous());
  CHECK_EQ(all.size(0), features.items()) << "the ranks' feature rows do not cover the items once";
  return all;
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
  const at::Tensor tokens = at::cat({adapted(model.text_adaptor, features, features.text, comm),
                                     adapted(model.img_adaptor, features, features.image, comm)});
  const int64_t n = tokens.size(0);  // 2N
  DpcOptions dpc;
  dpc.clusters = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(n * options.interest_ratio)), 1, n);
  dpc.knn_k = options.knn_k > 0
                  ? std::min(options.knn_k, n)
                  : std::clamp<int64_t>(static_cast<int64_t>(std::ceil(n * options.knn_local_ratio)), 1, n);
  dpc.memory_mb = options.memory_mb;
  dpc.sample_size = options.sample_size;
  const DpcResult result = options.method == runtime::ClusterMethod::kSampled
                               ? dpc_knn_sampled(tokens, dpc, comm, stats)
                               : dpc_knn(tokens, dpc, comm, stats);

  data::InterestState state;
  state.clusters = dpc.clusters;
  state.knn_k = dpc.knn_k;
  state.interest_embeddings = at::zeros({dpc.clusters + 1, tokens.size(1)}, tokens.options());
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
