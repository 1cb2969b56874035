#include "train/event_file.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "runtime/crc32c.h"
#include "runtime/error.h"

namespace missrec::train {

namespace {

// Protobuf wire format: field keys are (number << 3) | wire type.
constexpr int kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}

template <class T>
void put_fixed(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out.append(bytes, sizeof(T));
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event{wall_time = 1, step = 2, file_version = 3 | summary = 5}.
std::string event_header(double wall_time, int64_t step) {
  std::string event;
  put_key(event, 1, kFixed64);
  put_fixed(event, wall_time);
  put_key(event, 2, kVarint);
  put_varint(event, static_cast<uint64_t>(step));
  return event;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

// Summary{repeated Value value = 1}; Value{tag = 1, simple_value = 2 (float)}.
std::string encode_scalar_event(double wall_time, int64_t step,
                                const std::vector<std::pair<std::string, double>>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string message;
    put_bytes(message, 1, tag);
    put_key(message, 2, kFixed32);
    put_fixed(message, static_cast<float>(value));
    put_bytes(summary, 1, message);
  }
  std::string event = event_header(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

EventFile::EventFile(std::string dir) : dir_(std::move(dir)) {}

EventFile::~EventFile() {
  if (file_ != nullptr) std::fclose(file_);
}

void EventFile::open() {
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) runtime::throw_input_error(dir_, "cannot create the TensorBoard directory: " + error.message());
  char host[256] = "host";
  if (gethostname(host, sizeof host) != 0) std::strcpy(host, "host");
  host[sizeof host - 1] = '\0';
  const double now = unix_seconds();
  path_ = dir_ + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + host + "." +
          std::to_string(getpid());
  file_ = std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr) runtime::throw_input_error(path_, "cannot create the TensorBoard event file");
  std::string version = event_header(now, 0);
  put_bytes(version, 3, "brain.Event:2");
  write_record(version);
}

void EventFile::add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars) {
  if (dir_.empty() || scalars.empty()) return;
  if (file_ == nullptr) open();
  write_record(encode_scalar_event(unix_seconds(), step, scalars));
}

// uint64 length, uint32 masked CRC of the length's bytes, the data, uint32 masked CRC of
// the data.
void EventFile::write_record(const std::string& event) {
  std::string record;
  const uint64_t length = event.size();
  put_fixed(record, length);
  put_fixed(record, runtime::masked_crc32c(record.data(), sizeof length));
  record += event;
  put_fixed(record, runtime::masked_crc32c(event.data(), event.size()));
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0) {
    runtime::throw_input_error(path_, "cannot write the TensorBoard event file");
  }
}

}  // namespace missrec::train
