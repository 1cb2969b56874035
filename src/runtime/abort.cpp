#include "runtime/abort.h"

#include <glog/logging.h>
#include <mpi.h>

#include <cstdlib>
#include <exception>

namespace missrec::runtime {

void abort_job(int exit_status) {
  google::FlushLogFiles(google::GLOG_INFO);
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    MPI_Abort(MPI_COMM_WORLD, exit_status);
  }
  std::_Exit(exit_status);
}

namespace {
void on_terminate() {
  const char* what = "unknown exception";
  std::string text;
  if (auto current = std::current_exception()) {
    try {
      std::rethrow_exception(current);
    } catch (const std::exception& e) {
      text = e.what();
      what = text.c_str();
    } catch (...) {
    }
  } else {
    what = "std::terminate called without an active exception";
  }
  LOG(ERROR) << "fatal: uncaught error: " << what << "; aborting the job";
  abort_job(1);
}
}  // namespace

void install_terminate_handler() { std::set_terminate(&on_terminate); }

}  // namespace missrec::runtime
