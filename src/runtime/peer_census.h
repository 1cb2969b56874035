#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "runtime/mpi_world.h"

namespace missrec::runtime {

// Which ranks still answer, asked over a communicator of its own when a collective has
// timed out, so the message can name the ranks and hosts that stopped answering instead
// of only the rank that waited. A watchdog thread serves the others' questions while the
// main thread computes or blocks in a collective (MPI_THREAD_MULTIPLE).
class PeerCensus {
 public:
  explicit PeerCensus(const MpiWorld& world);  // collective: every rank constructs one
  ~PeerCensus();
  PeerCensus(const PeerCensus&) = delete;
  PeerCensus& operator=(const PeerCensus&) = delete;

  // Answers the questions that have arrived with this rank's collective count.
  void serve(uint64_t sequence);
  // Asks every other rank and waits up to `seconds` for the answers, serving questions
  // meanwhile: "ranks 2, 3 (host-b) stopped answering; ranks 0, 1 (host-a) answered
  // (rank 0 at #17, 1 at #17)" (the collective count each answering rank had reached).
  struct Survey {
    bool everyone_answered = true;
    std::string text;
  };
  Survey survey(uint64_t sequence, double seconds);

  const std::string& host_of(int rank) const { return hosts_[static_cast<size_t>(rank)]; }

 private:
  void post_question_receive();

  MpiComm comm_;
  int rank_ = 0;
  int size_ = 1;
  std::vector<std::string> hosts_;
  uint64_t question_ = 0;  // the asker's collective count
  MPI_Request question_request_ = MPI_REQUEST_NULL;
  // Buffers of messages in flight; a deque keeps them in place as it grows.
  std::deque<uint64_t> answer_buffers_;
  std::deque<MPI_Request> answer_requests_;
  uint64_t survey_question_ = 0;
  std::vector<uint64_t> survey_answers_;
};

}  // namespace missrec::runtime
