#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace missrec::runtime {

// Move-only owner of one MPI communicator; frees it on destruction (never throws).
class MpiComm {
 public:
  MpiComm() = default;
  explicit MpiComm(MPI_Comm comm) : comm_(comm) {}
  ~MpiComm();
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;
  MpiComm(MpiComm&& other) noexcept;
  MpiComm& operator=(MpiComm&& other) noexcept;

  MPI_Comm get() const { return comm_; }
  void reset();

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

// The process's place in the job: MPI started once in main, the world duplicated (so
// library traffic never mixes with ours) with MPI_ERRORS_RETURN, and the node-local
// rank from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). finalize() is called explicitly
// at the end of main; the destructor only finalizes if main did not get there.
class MpiWorld {
 public:
  MpiWorld(int* argc, char*** argv);
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& host() const { return host_; }
  // Every rank's host, by rank.
  const std::vector<std::string>& hosts() const { return hosts_; }
  // "node-a (ranks 0-1), node-b (ranks 2-3)": where the ranks run, for the log.
  std::string placement() const;
  MPI_Comm comm() const { return world_.get(); }
  // Whether the library provides MPI_THREAD_MULTIPLE (collectives from several threads).
  bool thread_multiple() const { return thread_multiple_; }

  void finalize();

 private:
  MpiComm world_;
  MpiComm node_;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  bool thread_multiple_ = false;
  std::string host_;
  std::vector<std::string> hosts_;
  bool finalized_ = false;
};

// Host name of this process (works before MPI starts too).
std::string host_name();

}  // namespace missrec::runtime
