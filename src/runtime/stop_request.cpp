#include "runtime/stop_request.h"

#include <csignal>
#include <cstdlib>

namespace missrec::runtime {

namespace {

volatile std::sig_atomic_t received_signal = 0;

void on_stop_signal(int signal_number) { received_signal = signal_number; }

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() { return received_signal != 0; }

int stop_signal() { return received_signal; }

void request_stop(int signal_number) { received_signal = signal_number; }

}  // namespace missrec::runtime
