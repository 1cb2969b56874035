#pragma once

namespace missrec::cli {

// The whole life of the missrec process: parse the command line, start MPI and logging
// when the command needs them, run, report errors (exit 2 for bad input, 1 otherwise;
// MPI_Abort of the job when a rank of a multi-rank job fails), shut down explicitly.
int run_main(int argc, char** argv);

}  // namespace missrec::cli
