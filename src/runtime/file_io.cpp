#include "runtime/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/error.h"

namespace missrec::runtime {

namespace {

std::string errno_text() { return std::strerror(errno); }

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

}  // namespace

uint64_t file_checksum(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_input_error(path, "cannot read: " + errno_text());
  std::vector<char> block(1 << 20);
  uint64_t hash = 0x243f6a8885a308d3ULL;
  uint64_t length = 0;
  for (;;) {
    const ssize_t got = ::read(fd, block.data(), block.size());
    if (got < 0) {
      const std::string why = errno_text();
      ::close(fd);
      throw_input_error(path, "read failed: " + why);
    }
    if (got == 0) break;
    size_t i = 0;
    for (; i + 8 <= static_cast<size_t>(got); i += 8) {
      uint64_t word;
      std::memcpy(&word, block.data() + i, 8);
      hash = mix(hash ^ word) + 0x9e3779b97f4a7c15ULL;
    }
    for (; i < static_cast<size_t>(got); ++i) {
      hash = mix(hash ^ static_cast<unsigned char>(block[i]));
    }
    length += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return mix(hash ^ length);
}

std::string checksum_hex(uint64_t checksum) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(checksum));
  return text;
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_input_error(path, "cannot open to flush: " + errno_text());
  const int status = ::fsync(fd);
  const std::string why = errno_text();
  ::close(fd);
  if (status != 0 && errno != EINVAL) throw_input_error(path, "flush to disk failed: " + why);
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
    throw_input_error(path, "cannot move the output into place: " + why);
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_staged(path, [&](const std::string& staging) {
    std::ofstream out(staging, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) throw_input_error(path, "write failed (disk full or not writable)");
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
