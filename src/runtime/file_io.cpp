#include "runtime/file_io.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <vector>

#include "runtime/error.h"

namespace missrec::runtime {

namespace {

std::string errno_text() { return std::strerror(errno); }

// Feeds `consume` the file's bytes in 1 MiB blocks; InputError naming the file when it
// cannot be read.
void for_each_block(const std::string& path, const std::function<void(const char*, size_t)>& consume) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_input_error(path, "cannot read: " + errno_text());
  std::vector<char> block(1 << 20);
  for (;;) {
    const ssize_t got = ::read(fd, block.data(), block.size());
    if (got < 0) {
      const std::string why = errno_text();
      ::close(fd);
      throw_input_error(path, "read failed: " + why);
    }
    if (got == 0) break;
    consume(block.data(), static_cast<size_t>(got));
  }
  ::close(fd);
}

uint64_t xxh3_of_file(const std::string& path) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  CHECK(state != nullptr) << "XXH3_createState failed (out of memory)";
  CHECK_EQ(XXH3_64bits_reset(state.get()), XXH_OK);
  for_each_block(path,
                 [&](const char* data, size_t size) { CHECK_EQ(XXH3_64bits_update(state.get(), data, size), XXH_OK); });
  return XXH3_64bits_digest(state.get());
}

// The 64-bit mix checkpoints carried before they named XXH3; kept to verify those.
uint64_t legacy_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

uint64_t legacy_digest_of_file(const std::string& path) {
  uint64_t hash = 0x243f6a8885a308d3ULL;
  uint64_t length = 0;
  for_each_block(path, [&](const char* data, size_t size) {
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      uint64_t word;
      std::memcpy(&word, data + i, 8);
      hash = legacy_mix(hash ^ word) + 0x9e3779b97f4a7c15ULL;
    }
    for (; i < size; ++i) hash = legacy_mix(hash ^ static_cast<unsigned char>(data[i]));
    length += size;
  });
  return legacy_mix(hash ^ length);
}

}  // namespace

const char* digest_name(FileDigest digest) { return digest == FileDigest::kXxh3_64 ? "xxh3_64" : "missrec_mix64"; }

std::string hex_digest(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string file_digest_hex(const std::string& path, FileDigest digest) {
  return hex_digest(digest == FileDigest::kXxh3_64 ? xxh3_of_file(path) : legacy_digest_of_file(path));
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_output_error(path, "cannot open to flush: " + errno_text());
  const int status = ::fsync(fd);
  const std::string why = errno_text();
  ::close(fd);
  if (status != 0 && errno != EINVAL) throw_output_error(path, "flush to disk failed: " + why);
}

void write_staged(const std::string& path, const std::function<void(const std::string& staging)>& write) {
  const std::string staging = path + ".partial";
  try {
    write(staging);
    sync_path(staging);
  } catch (...) {
    std::remove(staging.c_str());
    throw;
  }
  if (std::rename(staging.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    std::remove(staging.c_str());
    throw_output_error(path, "cannot move the output into place: " + why);
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_staged(path, [&](const std::string& staging) {
    std::ofstream out(staging, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) throw_output_error(path, "write failed (disk full or not writable)");
  });
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error(path, "cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace missrec::runtime
