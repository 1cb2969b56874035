#pragma once

#include <ATen/ATen.h>

#include "cluster/dpc_knn.h"
#include "data/interest_state.h"
#include "model/missrec_model.h"
#include "runtime/config.h"

namespace missrec::runtime {
class Communicator;
}

namespace missrec::cluster {

// K = ceil(2N * interest_ratio) and k = ceil(2N * knn_local_ratio) unless knn_k > 0, over
// tokens [text_adaptor(text[1..N]); img_adaptor(image[1..N])] from the current weights (no
// dropout, no gradient), DPC-KNN (cluster.method: exact or sampled) over them on every
// rank, tables written back and verified identical on every rank by checksum (a mismatch
// is a broken invariant and aborts). Sharded features: each rank adapts its own rows; the
// sampled method then sends them to the ranks whose shard of the DPC holds them (no rank
// holds all 2N tokens), the exact method gathers all 2N on every rank.
data::InterestState refresh_interests(model::MissRecImpl& model, const model::ItemFeatures& features,
                                      const runtime::ClusterConfig& options, runtime::Communicator& comm,
                                      DpcStats* stats = nullptr);

// Rank `root`'s tables on every rank (a resumed run, a fine-tuning run's best model):
// root passes them in `state`, the others receive them there, on the communicator's
// device (the item maps on the CPU). `items` counts rows of the maps (N+1). Throws
// InputError on root when its maps are not `items` long.
void broadcast_interests(data::InterestState& state, int64_t items, int64_t hidden, runtime::Communicator& comm,
                         int root = 0);

// Order-sensitive digest of the tables, equal on ranks that hold equal tables.
double interest_checksum(const data::InterestState& state);

}  // namespace missrec::cluster
