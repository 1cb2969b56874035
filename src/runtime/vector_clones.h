#pragma once

// Marks a function whose plain loops the compiler should build for AVX-512, AVX2 and
// plain x86-64; the program picks the build for the CPU when it loads (GCC target_clones).
#if defined(__x86_64__) && defined(__GNUC__)
#define MISSREC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MISSREC_VECTOR_CLONES
#endif
