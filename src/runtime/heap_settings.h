#pragma once

namespace missrec::runtime {

// Keeps memory glibc's malloc frees at the top of its heap instead of returning it to the
// kernel (trim threshold 1 GB, a 256 MB top pad), unless the user set glibc's malloc
// settings (GLIBC_TUNABLES, MALLOC_*_ variables). Large tensor blocks are kept by
// TensorBlockCache (runtime/tensor_block_cache.h): glibc cannot keep a freed block above
// its mmap threshold, which it caps at 32 MB (mallopt refuses larger thresholds; its
// status is checked). Called at the start of main.
void keep_freed_memory();

}  // namespace missrec::runtime
