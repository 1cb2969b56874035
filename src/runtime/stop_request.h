#pragma once

namespace missrec::runtime {

// Exit status of a run stopped by SIGTERM or SIGUSR1 after writing its checkpoint: a
// batch script requeues on it (launch/README.md). EX_TEMPFAIL of sysexits.h.
inline constexpr int kExitStoppedForRequeue = 75;

// SIGTERM and SIGUSR1 set a flag instead of ending the process; the training loop polls
// it at every step and the ranks agree on where to stop. No handler runs on a computing
// thread: the calling thread blocks both signals, every thread it creates afterwards
// inherits the block, and one thread takes them with sigwait. So call it before any
// other thread starts (run_main does, before MPI, for commands that stop on a signal);
// a thread started earlier would still take the signals' default action. Idempotent.
void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal received, 0 when none
// Sets the flag as if a signal had arrived (tests, and ranks told by their peers).
void request_stop(int signal_number);

}  // namespace missrec::runtime
