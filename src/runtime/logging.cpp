#include "runtime/logging.h"

#include <glog/logging.h>

#include <csignal>
#include <cstdio>
#include <iomanip>
#include <ostream>

namespace missrec::runtime {

namespace {

struct LogIdentity {
  int rank = 0;
  int world_size = 1;
  std::string host;
};

LogIdentity& identity() {
  static LogIdentity value;
  return value;
}

void write_prefix(std::ostream& s, const google::LogMessageInfo& info, void* data) {
  const auto* who = static_cast<const LogIdentity*>(data);
  s << info.severity[0] << std::setw(2) << std::setfill('0') << 1 + info.time.month() << std::setw(2) << info.time.day()
    << ' ' << std::setw(2) << info.time.hour() << ':' << std::setw(2) << info.time.min() << ':' << std::setw(2)
    << info.time.sec() << '.' << std::setw(3) << info.time.usec() / 1000 << std::setfill(' ') << " r" << who->rank
    << '/' << who->world_size << ' ' << who->host << ' ' << info.filename << ':' << info.line_number << ']';
}

}  // namespace

void init_logging(const char* argv0, int rank, int world_size, const std::string& host) {
  LogIdentity& who = identity();
  who.rank = rank;
  who.world_size = world_size;
  who.host = host;
  FLAGS_logtostderr = true;
  FLAGS_colorlogtostderr = false;
  set_log_level_for_rank(rank);
  if (!google::IsGoogleLoggingInitialized()) {
    google::InitGoogleLogging(argv0, &write_prefix, &who);
    google::InstallFailureSignalHandler();
    // SIGTERM is how mpirun/srun stop surviving ranks after a failure, and how Slurm
    // asks for preemption; it is not a crash, so it gets no stack dump.
    std::signal(SIGTERM, SIG_DFL);
  }
}

void set_log_level_for_rank(int rank) { FLAGS_minloglevel = rank == 0 ? google::GLOG_INFO : google::GLOG_WARNING; }

}  // namespace missrec::runtime
