#include "runtime/stop_request.h"

#include <glog/logging.h>
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

namespace missrec::runtime {

namespace {

std::atomic<int> received_signal{0};
std::once_flag taking_signals;

// Takes SIGTERM and SIGUSR1 for the whole process, one at a time, for ever.
void take_stop_signals(sigset_t signals) {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) == 0) received_signal = signal_number;
  }
}

}  // namespace

void install_stop_handlers() {
  std::call_once(taking_signals, [] {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    const int status = pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    CHECK_EQ(status, 0) << "pthread_sigmask failed";
    std::thread(take_stop_signals, signals).detach();
  });
}

bool stop_requested() { return received_signal != 0; }

int stop_signal() { return received_signal; }

void request_stop(int signal_number) { received_signal = signal_number; }

}  // namespace missrec::runtime
