#include "runtime/peer_census.h"

#include <glog/logging.h>

#include <chrono>
#include <map>
#include <thread>

#include "runtime/mpi_check.h"

namespace missrec::runtime {

namespace {

constexpr int kQuestionTag = 1;
constexpr int kAnswerTag = 2;

// "2, 3 (host-b), 5 (host-c)": ranks grouped by host.
std::string ranks_with_hosts(const std::vector<int>& ranks, const PeerCensus& census) {
  std::string text;
  for (size_t i = 0; i < ranks.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(ranks[i]);
    const bool host_ends = i + 1 == ranks.size() || census.host_of(ranks[i + 1]) != census.host_of(ranks[i]);
    if (host_ends) text += " (" + census.host_of(ranks[i]) + ")";
  }
  return text;
}

}  // namespace

PeerCensus::PeerCensus(const MpiWorld& world) : rank_(world.rank()), size_(world.size()), hosts_(world.hosts()) {
  MPI_Comm dup = MPI_COMM_NULL;
  MISSREC_MPI_CHECK(MPI_Comm_dup(world.comm(), &dup));
  comm_ = MpiComm(dup);
  MISSREC_MPI_CHECK(MPI_Comm_set_errhandler(comm_.get(), MPI_ERRORS_RETURN));
  post_question_receive();
}

PeerCensus::~PeerCensus() {
  // Outstanding requests are cancelled, not waited for: a peer may be gone.
  if (question_request_ != MPI_REQUEST_NULL) {
    MPI_Cancel(&question_request_);
    MPI_Request_free(&question_request_);
  }
  for (MPI_Request& request : answer_requests_) {
    if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);
  }
}

void PeerCensus::post_question_receive() {
  MISSREC_MPI_CHECK(
      MPI_Irecv(&question_, 1, MPI_UINT64_T, MPI_ANY_SOURCE, kQuestionTag, comm_.get(), &question_request_));
}

void PeerCensus::serve(uint64_t sequence) {
  for (;;) {
    int arrived = 0;
    MPI_Status status;
    MISSREC_MPI_CHECK(MPI_Test(&question_request_, &arrived, &status));
    if (!arrived) return;
    answer_buffers_.push_back(sequence);
    answer_requests_.emplace_back(MPI_REQUEST_NULL);
    MISSREC_MPI_CHECK(MPI_Isend(&answer_buffers_.back(), 1, MPI_UINT64_T, status.MPI_SOURCE, kAnswerTag, comm_.get(),
                                &answer_requests_.back()));
    post_question_receive();
  }
}

PeerCensus::Survey PeerCensus::survey(uint64_t sequence, double seconds) {
  survey_answers_.assign(static_cast<size_t>(size_), 0);
  std::vector<uint64_t>& answers = survey_answers_;
  std::vector<MPI_Request> receives(static_cast<size_t>(size_), MPI_REQUEST_NULL);
  std::vector<MPI_Request> sends(static_cast<size_t>(size_), MPI_REQUEST_NULL);
  survey_question_ = sequence;
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    MISSREC_MPI_CHECK(MPI_Irecv(&answers[r], 1, MPI_UINT64_T, r, kAnswerTag, comm_.get(), &receives[r]));
    MISSREC_MPI_CHECK(MPI_Isend(&survey_question_, 1, MPI_UINT64_T, r, kQuestionTag, comm_.get(), &sends[r]));
  }
  std::vector<bool> answered(static_cast<size_t>(size_), false);
  answered[rank_] = true;
  answers[rank_] = sequence;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int pending = size_ - 1;
  while (pending > 0 && std::chrono::steady_clock::now() < deadline) {
    serve(sequence);
    for (int r = 0; r < size_; ++r) {
      if (answered[r]) continue;
      int done = 0;
      MISSREC_MPI_CHECK(MPI_Test(&receives[r], &done, MPI_STATUS_IGNORE));
      if (done) {
        answered[r] = true;
        --pending;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<int> silent;
  std::vector<int> alive;
  std::string counts;
  for (int r = 0; r < size_; ++r) {
    if (answered[r]) {
      alive.push_back(r);
      counts += (counts.empty() ? "" : ", ") + std::to_string(r) + " at #" + std::to_string(answers[r]);
    } else {
      silent.push_back(r);
      MPI_Cancel(&receives[r]);
      MPI_Request_free(&receives[r]);
    }
    if (sends[r] != MPI_REQUEST_NULL) MPI_Request_free(&sends[r]);
  }
  std::string text;
  if (silent.empty()) {
    text = "every rank answered within " + std::to_string(static_cast<int>(seconds)) + " s (rank " + counts +
           "): a rank skipped or diverged";
  } else {
    text = (silent.size() == 1 ? "rank " : "ranks ") + ranks_with_hosts(silent, *this) + " stopped answering";
    text += "; " + std::string(alive.size() == 1 ? "rank " : "ranks ") + ranks_with_hosts(alive, *this) +
            " answered (rank " + counts + ")";
  }
  return Survey{silent.empty(), text};
}

}  // namespace missrec::runtime
