#include "runtime/stop_request.h"

#include <csignal>
#include <cstdlib>

namespace missrec::runtime {

namespace {

volatile std::sig_atomic_t received_signal = 0;

void on_stop_signal(int signal_number) { received_signal = signal_number; }

constexpr const char* kHeldVariable = "MISSREC_STOP_SIGNALS_HELD";

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

void hold_stop_signals_across_exec() {
  const sigset_t signals = stop_signals();
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) == 0) setenv(kHeldVariable, "1", 1);
}

void release_held_signals() {
  if (std::getenv(kHeldVariable) == nullptr) return;
  unsetenv(kHeldVariable);
  const sigset_t signals = stop_signals();
  sigprocmask(SIG_UNBLOCK, &signals, nullptr);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  release_held_signals();
}

bool stop_requested() { return received_signal != 0; }

int stop_signal() { return received_signal; }

void request_stop(int signal_number) { received_signal = signal_number; }

}  // namespace missrec::runtime
