#pragma once

namespace missrec::runtime {

// Keeps freed memory in the process for reuse instead of returning it to the kernel.
// glibc's defaults give every allocation above 32 MB its own mmap and unmap it when
// freed, and trim the heap's top, so the step's large tensors (B = 4096: each [B, B]
// logit matrix is 64 MB) arrive as fresh pages every step, each page a fault the kernel
// zero-fills: `missrec bench train --batch 4096` on 2 cores took 6.7 M page faults and
// ran at 355 samples/s; with large blocks kept, 1.2 M faults and 846 samples/s (peak
// RSS 3.9 GB -> 4.6 GB). Sets the mmap threshold to 1 GB, the trim threshold to 1 GB
// and a 256 MB top pad, unless the user set glibc's malloc settings
// (GLIBC_TUNABLES, MALLOC_*_ variables). Called at the start of main.
void keep_freed_memory();

}  // namespace missrec::runtime
