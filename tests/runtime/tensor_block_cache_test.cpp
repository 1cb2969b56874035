// The tensor block cache: large blocks are reused (the last freed first), small ones go
// to LibTorch's default allocator, what is mapped never exceeds the peak in use, tensors made
// through it compute as usual, and concurrent use is safe.
#include "runtime/tensor_block_cache.h"

#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <thread>
#include <vector>

namespace missrec::runtime {
namespace {

constexpr size_t kMb = size_t{1} << 20;

TEST(TensorBlockCache, ReusesAFreedLargeBlock) {
  TensorBlockCache& cache = TensorBlockCache::instance();
  const auto before = cache.stats();
  void* first = nullptr;
  {
    c10::DataPtr block = cache.allocate(8 * kMb);
    first = block.get();
    static_cast<char*>(first)[8 * kMb - 1] = 1;  // the whole block is usable
  }
  c10::DataPtr again = cache.allocate(8 * kMb - 1000);  // within an eighth: the same block
  EXPECT_EQ(again.get(), first);
  const auto after = cache.stats();
  EXPECT_EQ(after.maps - before.maps, 1);
  EXPECT_EQ(after.reuses - before.reuses, 1);
}

TEST(TensorBlockCache, TheBlockFreedLastIsReusedFirst) {
  TensorBlockCache& cache = TensorBlockCache::instance();
  c10::DataPtr a = cache.allocate(4 * kMb);
  c10::DataPtr b = cache.allocate(4 * kMb);
  void* freed_last = b.get();
  a.clear();
  b.clear();
  EXPECT_EQ(cache.allocate(4 * kMb).get(), freed_last);
}

TEST(TensorBlockCache, AMuchSmallerRequestDoesNotTakeALargeBlock) {
  TensorBlockCache& cache = TensorBlockCache::instance();
  void* large = nullptr;
  {
    c10::DataPtr block = cache.allocate(64 * kMb);
    large = block.get();
  }
  c10::DataPtr half = cache.allocate(32 * kMb);
  EXPECT_NE(half.get(), large);
}

TEST(TensorBlockCache, SmallBlocksGoToTheDefaultAllocator) {
  TensorBlockCache& cache = TensorBlockCache::instance();
  const auto before = cache.stats();
  c10::DataPtr small = cache.allocate(TensorBlockCache::kLargeBlock - 1);
  EXPECT_EQ(small.get_deleter(), c10::GetDefaultCPUAllocator()->raw_deleter());
  const auto after = cache.stats();
  EXPECT_EQ(after.maps, before.maps);
  EXPECT_EQ(after.in_use_bytes, before.in_use_bytes);
}

TEST(TensorBlockCache, WhatIsMappedNeverExceedsThePeakInUse) {
  TensorBlockCache& cache = TensorBlockCache::instance();
  // Growing sizes, each freed before the next: none fits the next request.
  for (size_t mb = 2; mb < 200; mb = mb * 3 / 2 + 1) {
    c10::DataPtr block = cache.allocate(mb * kMb);
    static_cast<char*>(block.get())[0] = 1;
  }
  const auto stats = cache.stats();
  EXPECT_LE(stats.kept_bytes + stats.in_use_bytes, stats.peak_in_use_bytes + stats.peak_in_use_bytes / 8);
  EXPECT_GT(stats.unmaps, 0);
}

TEST(TensorBlockCache, TensorsComputeThroughIt) {
  install_tensor_block_cache();
  const auto before = TensorBlockCache::instance().stats();
  at::manual_seed(3);
  const at::Tensor a = at::randn({1024, 512});  // 2 MB: a large block
  const at::Tensor b = at::randn({512, 1024});
  const at::Tensor product = at::mm(a, b);
  const at::Tensor reference = (a.to(at::kDouble).mm(b.to(at::kDouble))).to(at::kFloat);
  EXPECT_TRUE(at::allclose(product, reference, 1e-4, 1e-3));
  EXPECT_GT(TensorBlockCache::instance().stats().maps + TensorBlockCache::instance().stats().reuses,
            before.maps + before.reuses);
  c10::SetCPUAllocator(c10::GetDefaultCPUAllocator(), /*priority=*/1);
}

TEST(TensorBlockCache, ConcurrentUseIsSafe) {
  TensorBlockCache& cache = TensorBlockCache::instance();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t bytes = (1 + (i + t) % 7) * kMb;
        c10::DataPtr block = cache.allocate(bytes);
        auto* bytes_view = static_cast<unsigned char*>(block.get());
        bytes_view[0] = static_cast<unsigned char>(t);
        bytes_view[bytes - 1] = static_cast<unsigned char>(i);
        EXPECT_EQ(bytes_view[0], static_cast<unsigned char>(t));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cache.stats().in_use_bytes, 0u);
}

}  // namespace
}  // namespace missrec::runtime
