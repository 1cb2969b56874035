find_package(Torch REQUIRED)
find_package(MPI REQUIRED COMPONENTS C)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(glog REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
# xxHash (Debian's libxxhash-dev): the XXH3 digests checkpoints carry. No CMake config
# ships with it; one imported target wraps what find_* give.
find_path(MISSREC_XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(MISSREC_XXHASH_LIBRARY xxhash REQUIRED)
add_library(missrec::xxhash UNKNOWN IMPORTED)
set_target_properties(missrec::xxhash PROPERTIES IMPORTED_LOCATION "${MISSREC_XXHASH_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${MISSREC_XXHASH_INCLUDE_DIR}")
# ATen's parallel_for is an inline template around "#pragma omp parallel": without
# OpenMP in our own flags it silently runs on one thread.
find_package(OpenMP REQUIRED COMPONENTS CXX)
if(MISSREC_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# HDF5's imported target only exists in newer CMake modules; wrap the variables once.
if(NOT TARGET hdf5::hdf5)
  add_library(hdf5::hdf5 INTERFACE IMPORTED)
  set_target_properties(hdf5::hdf5 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${HDF5_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${HDF5_C_LIBRARIES}"
    INTERFACE_COMPILE_DEFINITIONS "${HDF5_DEFINITIONS}")
endif()

# yaml-cpp 0.7 exports "yaml-cpp"; 0.8 exports "yaml-cpp::yaml-cpp".
if(TARGET yaml-cpp::yaml-cpp)
  set(MISSREC_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(MISSREC_YAML_TARGET yaml-cpp)
endif()

# A CUDA LibTorch ships c10_cuda; with it the NCCL backend orders its stream after
# LibTorch's current stream. Debian's CPU LibTorch has the headers but not the library.
find_library(MISSREC_C10_CUDA_LIBRARY c10_cuda PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
if(MISSREC_C10_CUDA_LIBRARY)
  set(MISSREC_TORCH_CUDA 1)
  add_library(missrec::c10_cuda UNKNOWN IMPORTED)
  set_target_properties(missrec::c10_cuda PROPERTIES IMPORTED_LOCATION "${MISSREC_C10_CUDA_LIBRARY}")
else()
  set(MISSREC_TORCH_CUDA 0)
endif()

set(MISSREC_NCCL_BUILT 0)
if(NOT MISSREC_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_path(MISSREC_NCCL_INCLUDE_DIR nccl.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} $ENV{NCCL_HOME}/include ENV NCCL_ROOT)
  find_library(MISSREC_NCCL_LIBRARY nccl
    HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib $ENV{NCCL_HOME}/lib
          /usr/local/cuda/lib /usr/local/cuda/lib64)
  if(CUDAToolkit_FOUND AND MISSREC_NCCL_INCLUDE_DIR AND MISSREC_NCCL_LIBRARY)
    set(MISSREC_NCCL_BUILT 1)
    add_library(missrec::nccl INTERFACE IMPORTED)
    set_target_properties(missrec::nccl PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${MISSREC_NCCL_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${MISSREC_NCCL_LIBRARY};CUDA::cudart")
    if(MISSREC_TORCH_CUDA)
      set_property(TARGET missrec::nccl APPEND PROPERTY INTERFACE_LINK_LIBRARIES missrec::c10_cuda)
    endif()
    message(STATUS "NCCL: ${MISSREC_NCCL_LIBRARY} (CUDA ${CUDAToolkit_VERSION})")
  elseif(MISSREC_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "MISSREC_WITH_NCCL=ON but CUDA (${CUDAToolkit_FOUND}) or NCCL "
                        "(${MISSREC_NCCL_INCLUDE_DIR}, ${MISSREC_NCCL_LIBRARY}) was not found")
  else()
    message(STATUS "NCCL backend not built: CUDA toolkit or NCCL not found")
  endif()
endif()
