#include <glog/logging.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "cluster/dpc_knn.h"
#include "data/h5_file.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/file_io.h"
#include "runtime/mpi_world.h"
#include "runtime/process_memory.h"

namespace missrec::cli {

namespace {

std::vector<float> to_vector(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.to(at::kCPU, at::kFloat).contiguous().reshape({-1});
  return std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
}

std::vector<int64_t> to_longs(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.to(at::kCPU, at::kLong).contiguous();
  return std::vector<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

void write_result(const std::string& path, const cluster::DpcResult& result, int64_t clusters, int64_t k) {
  runtime::write_staged(path, [&](const std::string& staging) {
    data::H5File file = data::H5File::create(staging);
    file.set_int_attribute("/", "cluster_num", clusters);
    file.set_int_attribute("/", "local_size", k);
    file.write_float32("/expected/density", to_vector(result.density));
    file.write_float32("/expected/delta", to_vector(result.delta));
    file.write_float32("/expected/score", to_vector(result.score));
    file.write_int64("/expected/center_index", to_longs(result.center_index));
    file.write_int64("/expected/cluster_index", to_longs(result.cluster_index));
    const std::vector<float> centroids = to_vector(result.centroids);
    file.write_float_matrix("/expected/centroids", centroids.data(), result.centroids.size(0),
                            result.centroids.size(1));
    file.flush();
  });
}

}  // namespace

CommandSpec cluster_command() {
  CommandSpec command;
  command.name = "cluster";
  command.summary =
      "Distributed DPC-KNN (cluster.method: exact or sampled, with cluster.sample_size) on "
      "/tokens [N, D] of an HDF5 file; writes "
      "/expected/{density,delta,score,center_index,cluster_index,centroids} like the "
      "fixtures, and prints wall time and peak memory per rank. Runs under mpirun.";
  command.options = config_options();
  command.options.push_back({"tokens", "FILE", "HDF5 file with /tokens [N, D]", false, true, ""});
  command.options.push_back({"clusters", "K", "number of centers", false, true, ""});
  command.options.push_back({"knn-k", "k", "neighbours for the density", false});
  command.options.push_back({"knn-ratio", "r", "k = ceil(N * r) instead of --knn-k", false});
  command.options.push_back({"out", "FILE", "where to write the result (rank 0)", false});
  command.uses_config = true;
  command.needs_mpi = true;
  command.check_args = [](const ParsedArgs& args) {
    if (args.has("knn-k") == args.has("knn-ratio")) {
      runtime::throw_input_error("missrec cluster", "give exactly one of --knn-k and --knn-ratio");
    }
    if (args.integer("clusters") < 1) runtime::throw_input_error("--clusters", "expected >= 1");
    if (args.has("knn-k") && args.integer("knn-k") < 1) runtime::throw_input_error("--knn-k", "expected >= 1");
    if (args.has("knn-ratio") && !(args.real("knn-ratio") > 0.0 && args.real("knn-ratio") <= 1.0)) {
      runtime::throw_input_error("--knn-ratio", "expected a number in (0, 1]");
    }
  };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    const data::H5File file = data::H5File::open_read(args.value("tokens"));
    const at::Tensor tokens = file.read_tensor("/tokens");
    if (tokens.dim() != 2 || !tokens.is_floating_point()) {
      runtime::throw_input_error(args.value("tokens") + ": /tokens", "expected float [N, D]");
    }
    const int64_t n = tokens.size(0);
    cluster::DpcOptions options;
    options.clusters = args.integer("clusters");
    options.knn_k =
        args.has("knn-k") ? args.integer("knn-k") : static_cast<int64_t>(std::ceil(n * args.real("knn-ratio")));
    options.memory_mb = context.config.cluster.memory_mb;
    options.sample_size = context.config.cluster.sample_size;
    const bool sampled = context.config.cluster.method == runtime::ClusterMethod::kSampled;
    auto comm = make_comm(context);
    cluster::DpcStats stats;
    const cluster::DpcResult result = sampled
                                          ? cluster::dpc_knn_sampled(tokens.to(comm->device()), options, *comm, &stats)
                                          : cluster::dpc_knn(tokens.to(comm->device()), options, *comm, &stats);
    const double rss = runtime::peak_rss_mb();
    at::Tensor all_rss =
        comm->allgather(at::full({1}, rss, at::TensorOptions().dtype(at::kDouble).device(comm->device())));
    if (comm->rank() == 0) {
      std::printf(
          "dpc-knn (%s): N=%lld D=%lld K=%lld k=%lld ranks=%d tiles of %lld rows, passes of %lld rows, %lld rows "
          "needed a full delta scan, %.2f s\n",
          sampled ? "sampled" : "exact", static_cast<long long>(n), static_cast<long long>(tokens.size(1)),
          static_cast<long long>(options.clusters), static_cast<long long>(options.knn_k), comm->size(),
          static_cast<long long>(stats.tile_rows), static_cast<long long>(stats.pass_rows),
          static_cast<long long>(stats.unresolved_rows), stats.seconds);
      const at::Tensor rss_cpu = all_rss.to(at::kCPU);
      for (int r = 0; r < comm->size(); ++r) {
        std::printf("rank %d peak memory %.0f MB\n", r, rss_cpu[r].item<double>());
      }
      if (args.has("out")) write_result(args.value("out"), result, options.clusters, options.knn_k);
    }
    comm->barrier();
    return runtime::kExitOk;
  };
  return command;
}

}  // namespace missrec::cli
