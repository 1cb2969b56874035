#pragma once

#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace missrec::runtime {

// LibTorch's CPU allocator in the missrec program: blocks of at least kLargeBlock bytes
// are mapped once and kept for reuse when freed; smaller ones go to LibTorch's default
// allocator. glibc's malloc maps every block above its mmap threshold (32 MB at most)
// afresh and unmaps it when freed, so a step's large tensors would arrive as new pages,
// each a fault the kernel zero-fills (docs/performance.md has the counts). Only the
// memory of tensors changes; the process keeps glibc's malloc for everything else.
//
// A request takes the smallest kept block that is at least as large and wastes at most
// an eighth of it (among equal sizes the one freed last, the likeliest still in cache);
// otherwise a new block is mapped, after unmapping kept blocks, largest first, so that
// what is mapped stays within an eighth above the most ever in use at once: memory
// budgets such as cluster.memory_mb hold. Thread-safe.
class TensorBlockCache final : public c10::Allocator {
 public:
  static constexpr size_t kLargeBlock = size_t{1} << 20;

  struct Stats {
    int64_t maps = 0;         // blocks mapped
    int64_t reuses = 0;       // requests served from kept blocks
    int64_t unmaps = 0;       // kept blocks given back to the kernel
    size_t in_use_bytes = 0;  // large blocks held by tensors now
    size_t kept_bytes = 0;    // large blocks kept for reuse now
    size_t peak_in_use_bytes = 0;
  };

  // The process's one cache (LibTorch's raw deleter is a plain function of the address),
  // never destroyed: tensors may outlive main's locals.
  static TensorBlockCache& instance();

  TensorBlockCache(const TensorBlockCache&) = delete;
  TensorBlockCache& operator=(const TensorBlockCache&) = delete;

#if TORCH_VERSION_MAJOR >= 2
  c10::DataPtr allocate(size_t bytes) override;
  void copy_data(void* destination, const void* source, size_t bytes) const override;
#else
  c10::DataPtr allocate(size_t bytes) const override;
#endif
  c10::DeleterFnPtr raw_deleter() const override;

  Stats stats() const;

 private:
  // `small_blocks` serves requests below kLargeBlock.
  explicit TensorBlockCache(c10::Allocator* small_blocks);
  ~TensorBlockCache() override = default;

  c10::DataPtr allocate_block(size_t bytes) const;
  static void release(void* address);
  void release_block(void* address);

  c10::Allocator* small_blocks_;
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> kept_;         // kept blocks by size
  mutable std::unordered_map<void*, size_t> in_use_;  // large blocks held, with their sizes
  mutable Stats stats_;
};

// Makes TensorBlockCache::instance() LibTorch's CPU allocator. Called at the start of
// the missrec program.
void install_tensor_block_cache();

}  // namespace missrec::runtime
