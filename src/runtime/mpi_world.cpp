#include "runtime/mpi_world.h"

#include <vector>

#include <glog/logging.h>
#include <unistd.h>

#include "runtime/abort.h"
#include "runtime/mpi_check.h"

namespace missrec::runtime {

namespace detail {
void mpi_call_failed(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  LOG(ERROR) << "fatal: MPI call failed on rank " << rank << " (" << host_name() << "): " << call << " at " << file
             << ':' << line << ": " << text;
  abort_job(1);
}
}  // namespace detail

std::string host_name() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

MpiComm::~MpiComm() { reset(); }

MpiComm::MpiComm(MpiComm&& other) noexcept : comm_(other.comm_) { other.comm_ = MPI_COMM_NULL; }

MpiComm& MpiComm::operator=(MpiComm&& other) noexcept {
  if (this != &other) {
    reset();
    comm_ = other.comm_;
    other.comm_ = MPI_COMM_NULL;
  }
  return *this;
}

void MpiComm::reset() {
  if (comm_ == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) {
    const int rc = MPI_Comm_free(&comm_);
    if (rc != MPI_SUCCESS) LOG(WARNING) << "MPI_Comm_free failed with code " << rc;
  }
  comm_ = MPI_COMM_NULL;
}

MpiWorld::MpiWorld(int* argc, char*** argv) : host_(host_name()) {
  int provided = 0;
  // MULTIPLE: a helper thread (the NCCL watchdog) may call MPI_Abort while the main
  // thread is inside MPI.
  MISSREC_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
  thread_multiple_ = provided >= MPI_THREAD_MULTIPLE;
  if (!thread_multiple_) {
    LOG(WARNING) << "the MPI library provides thread level " << provided
                 << " < MPI_THREAD_MULTIPLE; an abort from a watchdog thread may misbehave";
  }
  MISSREC_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPI_Comm dup = MPI_COMM_NULL;
  MISSREC_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  world_ = MpiComm(dup);
  MISSREC_MPI_CHECK(MPI_Comm_set_errhandler(world_.get(), MPI_ERRORS_RETURN));
  MISSREC_MPI_CHECK(MPI_Comm_rank(world_.get(), &rank_));
  MISSREC_MPI_CHECK(MPI_Comm_size(world_.get(), &size_));
  MPI_Comm node = MPI_COMM_NULL;
  MISSREC_MPI_CHECK(MPI_Comm_split_type(world_.get(), MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  node_ = MpiComm(node);
  MISSREC_MPI_CHECK(MPI_Comm_rank(node_.get(), &local_rank_));
  MISSREC_MPI_CHECK(MPI_Comm_size(node_.get(), &local_size_));
  constexpr int kHostChars = 256;
  std::vector<char> mine(kHostChars, '\0');
  host_.copy(mine.data(), kHostChars - 1);
  std::vector<char> all(static_cast<size_t>(kHostChars) * size_);
  MISSREC_MPI_CHECK(MPI_Allgather(mine.data(), kHostChars, MPI_CHAR, all.data(), kHostChars, MPI_CHAR, world_.get()));
  for (int r = 0; r < size_; ++r) hosts_.emplace_back(all.data() + static_cast<size_t>(r) * kHostChars);
}

std::string MpiWorld::placement() const {
  std::string text;
  for (int r = 0; r < size_;) {
    int last = r;
    while (last + 1 < size_ && hosts_[last + 1] == hosts_[r]) ++last;
    text += (text.empty() ? "" : ", ") + hosts_[r] +
            (last == r ? " (rank " + std::to_string(r) + ")"
                       : " (ranks " + std::to_string(r) + "-" + std::to_string(last) + ")");
    r = last + 1;
  }
  return text;
}

MpiWorld::~MpiWorld() {
  if (!finalized_) finalize();
}

void MpiWorld::finalize() {
  if (finalized_) return;
  node_.reset();
  world_.reset();
  const int rc = MPI_Finalize();
  if (rc != MPI_SUCCESS) LOG(WARNING) << "MPI_Finalize failed with code " << rc;
  finalized_ = true;
}

}  // namespace missrec::runtime
