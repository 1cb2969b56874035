#include "runtime/tensor_block_cache.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <glog/logging.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

namespace missrec::runtime {

namespace {

constexpr size_t kGranule = size_t{64} << 10;

size_t rounded_up(size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }

// A destructor path: report, never throw.
void unmap(void* address, size_t bytes) {
  if (munmap(address, bytes) != 0) PLOG(ERROR) << "munmap of a kept tensor block";
}

}  // namespace

TensorBlockCache& TensorBlockCache::instance() {
  static auto* const cache = new TensorBlockCache(c10::GetDefaultCPUAllocator());
  return *cache;
}

TensorBlockCache::TensorBlockCache(c10::Allocator* small_blocks) : small_blocks_(small_blocks) {
  CHECK(small_blocks_ != nullptr);
  CHECK(small_blocks_->raw_deleter() != nullptr) << "the default CPU allocator has no raw deleter";
}

#if TORCH_VERSION_MAJOR >= 2
c10::DataPtr TensorBlockCache::allocate(size_t bytes) { return allocate_block(bytes); }

void TensorBlockCache::copy_data(void* destination, const void* source, size_t bytes) const {
  default_copy_data(destination, source, bytes);
}
#else
c10::DataPtr TensorBlockCache::allocate(size_t bytes) const { return allocate_block(bytes); }
#endif

c10::DeleterFnPtr TensorBlockCache::raw_deleter() const { return &TensorBlockCache::release; }

c10::DataPtr TensorBlockCache::allocate_block(size_t bytes) const {
  const c10::Device cpu(c10::DeviceType::CPU);
  if (bytes < kLargeBlock) return small_blocks_->allocate(bytes);
  const size_t size = rounded_up(bytes);
  void* address = nullptr;
  size_t mapped = size;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto fit = kept_.lower_bound(size);
    if (fit != kept_.end() && fit->first - size <= fit->first / 8) {
      mapped = fit->first;
      address = fit->second;
      kept_.erase(fit);
      stats_.kept_bytes -= mapped;
      ++stats_.reuses;
    }
  }
  if (address == nullptr) {
    // What is mapped stays within an eighth above the most ever in use at once: kept
    // blocks make room for the new one, the largest first. The eighth of slack keeps steps
    // of varying sizes from remapping; the bound keeps memory budgets such as
    // cluster.memory_mb true.
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const size_t ceiling =
          std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes + size) + stats_.peak_in_use_bytes / 8;
      while (!kept_.empty() && stats_.in_use_bytes + stats_.kept_bytes + size > ceiling) {
        const auto largest = std::prev(kept_.end());
        stats_.kept_bytes -= largest->first;
        ++stats_.unmaps;
        unmap(largest->second, largest->first);
        kept_.erase(largest);
      }
    }
    address = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(address != MAP_FAILED, "TensorBlockCache: cannot map ", size,
                " bytes for a tensor: ", std::strerror(errno));
    const std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.maps;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    in_use_.emplace(address, mapped);
    stats_.in_use_bytes += mapped;
    if (stats_.in_use_bytes > stats_.peak_in_use_bytes) stats_.peak_in_use_bytes = stats_.in_use_bytes;
  }
  return c10::DataPtr(address, address, &TensorBlockCache::release, cpu);
}

void TensorBlockCache::release(void* address) { instance().release_block(address); }

void TensorBlockCache::release_block(void* address) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto held = in_use_.find(address);
  if (held == in_use_.end()) {
    lock.unlock();
    small_blocks_->raw_deleter()(address);
    return;
  }
  const size_t bytes = held->second;
  in_use_.erase(held);
  stats_.in_use_bytes -= bytes;
  // Before the blocks of its size, so that the next request of this size takes it: the
  // block freed last is the one most likely still in cache.
  kept_.emplace_hint(kept_.lower_bound(bytes), bytes, address);
  stats_.kept_bytes += bytes;
}

TensorBlockCache::Stats TensorBlockCache::stats() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void install_tensor_block_cache() {
  // Above the default allocator's registration (priority 0).
  c10::SetCPUAllocator(&TensorBlockCache::instance(), /*priority=*/1);
}

}  // namespace missrec::runtime
