#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace missrec::runtime {

// Digests of a file's bytes (not cryptographic: they catch truncation and corruption).
// XXH3-64 is what files carry; `xxhsum -H3 FILE` prints the same 16 hex digits. The
// 64-bit mix of checkpoints written before they named their digest is kept to verify
// those.
enum class FileDigest { kXxh3_64, kLegacyMix64 };
const char* digest_name(FileDigest digest);  // "xxh3_64", "missrec_mix64"

// The digest as 16 hex digits; InputError naming the file when it cannot be read.
std::string file_digest_hex(const std::string& path, FileDigest digest = FileDigest::kXxh3_64);

// 16 hex digits of a 64-bit value.
std::string hex_digest(uint64_t value);

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
