#pragma once

namespace missrec::runtime {

// Which malloc this process runs on. The missrec program links tcmalloc when the build
// found it (MISSREC_TCMALLOC): it keeps freed memory for reuse. glibc's malloc maps every
// block above its mmap threshold afresh and unmaps it when freed, so a step's large
// tensors arrive as new pages, each a fault the kernel zero-fills: at batch 4096 (each
// [B, B] logit matrix is 64 MB) about 45,000 faults a step and 25% of its time on this
// machine kind (docs/performance.md).
enum class HeapAllocator { kTcmalloc, kGlibc };
HeapAllocator process_heap_allocator();
const char* heap_allocator_name(HeapAllocator allocator);

// Under glibc's malloc, keeps what it can: the mmap threshold at glibc's largest (32 MB),
// the trim threshold at 1 GB and a 256 MB top pad, unless the user set glibc's malloc
// settings (GLIBC_TUNABLES, MALLOC_*_ variables); nothing under tcmalloc. Called at the
// start of main.
void keep_freed_memory();

}  // namespace missrec::runtime
