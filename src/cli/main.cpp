#include "cli/run_main.h"

int main(int argc, char** argv) { return missrec::cli::run_main(argc, argv); }
