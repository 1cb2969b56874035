#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace missrec::runtime {

// 64-bit digest of a file's bytes (not cryptographic: it catches truncation and
// corruption). Throws InputError naming the file when it cannot be read.
uint64_t file_checksum(const std::string& path);
std::string checksum_hex(uint64_t checksum);

// Writes `content` to `path` through a temporary file in the same directory, flushed to
// disk and renamed, so a reader sees the old file or the new one, never a part.
// Throws InputError naming the path on failure (the old file is then untouched).
void write_file_atomically(const std::string& path, const std::string& content);

// Calls write(staging) for `path + ".partial"`, flushes it to disk and renames it to
// `path`; on any failure the staging file is removed and the error rethrown, so a
// reader never finds a partial output.
void write_staged(const std::string& path, const std::function<void(const std::string& staging)>& write);

// fsync of a file or a directory (its entries); throws InputError naming the path.
void sync_path(const std::string& path);

std::string read_text_file(const std::string& path);

}  // namespace missrec::runtime
