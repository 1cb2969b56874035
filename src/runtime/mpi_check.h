#pragma once

#include <mpi.h>

#include <string>

namespace missrec::runtime::detail {

// Reports a failed MPI call with its text, file:line, rank and host, then aborts the job.
[[noreturn]] void mpi_call_failed(int code, const char* call, const char* file, int line);

}  // namespace missrec::runtime::detail

// Every MPI call goes through this: communicators use MPI_ERRORS_RETURN, so a failure
// comes back here to be reported instead of killing the process without a message.
#define MISSREC_MPI_CHECK(call)                                                                \
  do {                                                                                         \
    const int missrec_mpi_rc_ = (call);                                                        \
    if (missrec_mpi_rc_ != MPI_SUCCESS) {                                                      \
      ::missrec::runtime::detail::mpi_call_failed(missrec_mpi_rc_, #call, __FILE__, __LINE__); \
    }                                                                                          \
  } while (0)
