#pragma once

namespace missrec::runtime {

// Ends the whole job: MPI_Abort on the world when MPI is running (so mpirun/srun take
// every rank down), otherwise an immediate process exit. Safe from any thread.
[[noreturn]] void abort_job(int exit_status);

// Routes std::terminate (an uncaught exception on any thread) to a logged abort_job.
void install_terminate_handler();

}  // namespace missrec::runtime
