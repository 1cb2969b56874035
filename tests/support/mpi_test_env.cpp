#include "support/mpi_test_env.h"

#include <glog/logging.h>

namespace missrec::testing {

namespace detail {
runtime::MpiWorld* g_world = nullptr;
runtime::Communicator* g_comm = nullptr;
}  // namespace detail

runtime::MpiWorld& world() {
  CHECK(detail::g_world != nullptr) << "tests must run under mpi_test_main";
  return *detail::g_world;
}

runtime::Communicator& comm() {
  CHECK(detail::g_comm != nullptr) << "tests must run under mpi_test_main";
  return *detail::g_comm;
}

}  // namespace missrec::testing
