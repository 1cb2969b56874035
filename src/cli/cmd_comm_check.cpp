#include <glog/logging.h>

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/collective_checks.h"
#include "cli/commands.h"
#include "runtime/comm.h"
#include "runtime/config_yaml.h"
#include "runtime/error.h"
#include "runtime/mpi_world.h"

namespace missrec::cli {

namespace {

int64_t parse_size(const std::string& flag, const std::string& text) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    runtime::throw_input_error("--" + flag, "expected a size like 4096, 4K or 64M, got '" + text + "'");
  }
  const std::string suffix = text.substr(used);
  if (suffix == "K" || suffix == "k") value <<= 10;
  else if (suffix == "M" || suffix == "m") value <<= 20;
  else if (suffix == "G" || suffix == "g") value <<= 30;
  else if (!suffix.empty()) {
    runtime::throw_input_error("--" + flag, "expected a size like 4096, 4K or 64M, got '" + text + "'");
  }
  if (value < 4) runtime::throw_input_error("--" + flag, "expected at least 4 bytes, got '" + text + "'");
  return value;
}

std::string json_report(const std::vector<CheckResult>& checks, const std::vector<BandwidthRow>& rows,
                        const runtime::Communicator& comm) {
  bool all_passed = true;
  for (const CheckResult& check : checks) all_passed = all_passed && check.passed;
  nlohmann::ordered_json json;
  json["bench"] = "comm";
  json["backend"] = comm.backend_name();
  json["device"] = comm.device().str();
  json["world_size"] = comm.size();
  json["checks_passed"] = all_passed;
  json["allreduce"] = nlohmann::ordered_json::array();
  for (const BandwidthRow& row : rows) {
    json["allreduce"].push_back({{"bytes", row.bytes},
                                 {"time_us", row.seconds_per_op * 1e6},
                                 {"algbw_gbps", row.algorithm_gbps},
                                 {"busbw_gbps", row.bus_gbps}});
  }
  return json.dump();
}

struct CommCheckOptions {
  int64_t min_bytes = 0;
  int64_t max_bytes = 0;
  int warmup = 0;
};

CommCheckOptions parse_options(const ParsedArgs& args) {
  CommCheckOptions options;
  options.min_bytes = parse_size("min-bytes", args.value("min-bytes"));
  options.max_bytes = parse_size("max-bytes", args.value("max-bytes"));
  if (options.max_bytes < options.min_bytes) {
    runtime::throw_input_error("--max-bytes", "must not be below --min-bytes");
  }
  const int64_t warmup = args.integer("warmup");
  if (warmup < 0 || warmup > 1000) {
    runtime::throw_input_error("--warmup", "expected 0..1000, got " + std::to_string(warmup));
  }
  options.warmup = static_cast<int>(warmup);
  return options;
}

}  // namespace

CommandSpec comm_check_command() {
  CommandSpec command;
  command.name = "comm-check";
  command.summary =
      "Verifies every collective at the running world size against values computed from "
      "it, then prints float32 sum-allreduce time and bus bandwidth "
      "(size/time * 2(P-1)/P) by size, like nccl-tests.";
  command.options = config_options();
  command.uses_config = true;
  command.options.push_back({"min-bytes", "SIZE", "smallest allreduce", false, false, "4K"});
  command.options.push_back({"max-bytes", "SIZE", "largest allreduce", false, false, "64M"});
  command.options.push_back({"warmup", "N", "untimed calls per size", false, false, "3"});
  command.options.push_back({"json", "", "print one JSON line instead of the table", false});
  command.needs_mpi = true;
  command.check_args = [](const ParsedArgs& args) { parse_options(args); };
  command.run = [](const ParsedArgs& args, CommandContext& context) {
    const CommCheckOptions options = parse_options(args);
    auto comm = make_comm(context);
    const bool json = args.has("json");
    LOG(INFO) << "comm-check: backend " << comm->backend_name() << ", " << comm->size() << " ranks, device "
              << comm->device();

    const std::vector<CheckResult> checks = verify_collectives(*comm);
    int local_failures = 0;
    for (const CheckResult& check : checks) {
      if (!check.passed) {
        ++local_failures;
        LOG(ERROR) << "FAIL " << check.name << ": " << check.detail;
      }
    }
    at::Tensor failures = at::full({1}, local_failures, at::TensorOptions().dtype(at::kLong).device(comm->device()));
    comm->allreduce(failures, runtime::ReduceOp::kSum);
    const int64_t total_failures = failures.to(at::kCPU).item<int64_t>();
    const bool print = comm->rank() == 0;
    if (print && !json) {
      for (const CheckResult& check : checks) {
        std::printf("%s %s\n", check.passed ? "ok  " : "FAIL", check.name.c_str());
      }
      std::printf("%zu collectives checked on %d ranks: %s\n\n", checks.size(), comm->size(),
                  total_failures == 0 ? "all passed" : "FAILURES");
    }

    const std::vector<BandwidthRow> rows =
        measure_allreduce(*comm, options.min_bytes, options.max_bytes, options.warmup);
    bool rows_correct = true;
    for (const BandwidthRow& row : rows) rows_correct = rows_correct && row.correct;
    if (print && json) {
      std::cout << json_report(checks, rows, *comm) << std::endl;
    } else if (print) {
      std::printf("# allreduce float32 sum, %d ranks, backend %s\n", comm->size(), comm->backend_name());
      std::printf("%12s %12s %7s %12s %12s %12s %6s\n", "size(B)", "count", "iters", "time(us)", "algbw(GB/s)",
                  "busbw(GB/s)", "check");
      for (const BandwidthRow& row : rows) {
        std::printf("%12lld %12lld %7d %12.1f %12.3f %12.3f %6s\n", static_cast<long long>(row.bytes),
                    static_cast<long long>(row.bytes / 4), row.iterations, row.seconds_per_op * 1e6, row.algorithm_gbps,
                    row.bus_gbps, row.correct ? "ok" : "WRONG");
      }
    }
    std::fflush(stdout);
    return total_failures == 0 && rows_correct ? runtime::kExitOk : runtime::kExitFailure;
  };
  return command;
}

}  // namespace missrec::cli
