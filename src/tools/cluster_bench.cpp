#include "tools/cluster_bench.h"

#include <nlohmann/json.hpp>

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <string>

#include "cluster/agreement.h"
#include "cluster/dpc_knn.h"
#include "runtime/comm.h"
#include "runtime/stopwatch.h"

namespace missrec::tools {

using namespace missrec::cluster;  // NOLINT: this tool works on cluster's types

namespace {

// Resets VmHWM (Linux >= 4.0); returns false where the kernel refuses.
bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

double status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return 0.0;
}

}  // namespace

std::string run_cluster_bench(const ClusterBenchOptions& options, runtime::Communicator& comm) {
  at::manual_seed(options.seed);
  const int64_t groups = std::max<int64_t>(2, options.n / 100);
  const at::Tensor means = at::randn({groups, options.dim}) * 2;
  const at::Tensor tokens =
      (means.index_select(0, at::randint(0, groups, {options.n}, at::kLong)) + at::randn({options.n, options.dim}))
          .to(comm.device());
  DpcOptions dpc;
  dpc.knn_k = static_cast<int64_t>(std::ceil(options.n * options.knn_ratio));
  dpc.clusters = static_cast<int64_t>(std::ceil(options.n * options.cluster_ratio));
  dpc.memory_mb = options.memory_mb;
  dpc.sample_size = options.sample_size;
  const bool sampled = options.method == runtime::ClusterMethod::kSampled;

  const bool peak_resettable = reset_peak_rss();
  const double base_mb = status_mb("VmRSS");
  comm.barrier();
  runtime::Stopwatch clock;
  DpcStats stats;
  const DpcResult ours = sampled ? dpc_knn_sampled(tokens, dpc, comm, &stats) : dpc_knn(tokens, dpc, comm, &stats);
  comm.barrier();
  const double ours_seconds = clock.lap();
  const double ours_peak = status_mb("VmHWM") - base_mb;

  nlohmann::ordered_json json;
  json["bench"] = "cluster";
  json["n"] = options.n;
  json["dim"] = options.dim;
  json["k"] = dpc.knn_k;
  json["clusters"] = dpc.clusters;
  json["ranks"] = comm.size();
  json["device"] = comm.device().str();
  json["threads_per_rank"] = at::get_num_threads();
  json["memory_mb"] = options.memory_mb;
  json["method"] = runtime::name_of(options.method);
  if (sampled) json["sample_size"] = options.sample_size;
  json["ours_s"] = ours_seconds;
  json["ours_extra_peak_mb"] = ours_peak;
  json["tile_rows"] = stats.tile_rows;
  json["pass_rows"] = stats.pass_rows;
  json["unresolved_rows"] = stats.unresolved_rows;
  if (sampled) {
    json["candidate_pairs"] = stats.candidate_pairs;
    json["rank0_cell_pairs"] = stats.cell_pairs;
    json["rank0_peak_rows"] = stats.peak_rows;
  }
  json["rank0_distance_gemm_s"] = stats.distance_gemm_s;
  json["rank0_selection_s"] = stats.selection_s;
  if (sampled && options.with_exact) {
    comm.barrier();
    clock.lap();
    const DpcResult exact = dpc_knn(tokens, dpc, comm);
    comm.barrier();
    const double exact_seconds = clock.lap();
    json["exact_s"] = exact_seconds;
    json["speedup_over_exact"] = exact_seconds / ours_seconds;
    json["adjusted_rand_index"] = adjusted_rand_index(ours.cluster_index, exact.cluster_index);
    json["shared_centers"] = shared_fraction(ours.center_index, exact.center_index);
  }
  if (!sampled && options.with_full_matrix && comm.size() == 1) {
    reset_peak_rss();
    const double full_base = status_mb("VmRSS");
    clock.lap();
    const DpcResult full = dpc_knn_full_matrix(tokens, dpc.clusters, dpc.knn_k);
    const double full_seconds = clock.lap();
    const double full_peak = status_mb("VmHWM") - full_base;
    json["full_matrix_s"] = full_seconds;
    json["full_matrix_extra_peak_mb"] = full_peak;
    json["speedup"] = full_seconds / ours_seconds;
    json["memory_fraction"] = ours_peak / full_peak;
    json["same_centers"] = at::equal(full.center_index, ours.center_index);
    json["same_assignment"] = at::equal(full.cluster_index, ours.cluster_index);
  }
  json["peak_measure"] = peak_resettable ? "VmHWM reset per run" : "VmHWM since start";
  return json.dump();
}

}  // namespace missrec::tools
