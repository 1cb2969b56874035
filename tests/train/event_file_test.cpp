// The TensorBoard event file: TFRecord framing with masked CRC-32C and the Event /
// Summary protobufs, decoded here by hand; and which metrics fields become scalars.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/crc32c.h"
#include "train/event_file.h"
#include "train/metrics_log.h"

namespace missrec::train {
namespace {

namespace fs = std::filesystem;

template <class T>
T read_fixed(const std::string& bytes, size_t& at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  at += sizeof(T);
  return value;
}

uint64_t read_varint(const std::string& bytes, size_t& at) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes[at++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return value;
  }
}

// The records of a TFRecord file; fails the test on a bad length or CRC.
std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t length_at = at;
    const auto length = read_fixed<uint64_t>(bytes, at);
    EXPECT_EQ(read_fixed<uint32_t>(bytes, at), runtime::masked_crc32c(bytes.data() + length_at, 8));
    records.push_back(bytes.substr(at, length));
    at += length;
    EXPECT_EQ(read_fixed<uint32_t>(bytes, at), runtime::masked_crc32c(records.back().data(), length));
  }
  return records;
}

struct Decoded {
  int64_t step = -1;
  std::string file_version;
  std::vector<std::pair<std::string, float>> values;
};

// Event{1: wall_time double, 2: step varint, 3: file_version, 5: Summary{1: Value{1: tag, 2: float}}}.
Decoded decode_event(const std::string& event) {
  Decoded decoded;
  size_t at = 0;
  while (at < event.size()) {
    const uint64_t key = read_varint(event, at);
    if (key == (1 << 3 | 1)) {
      EXPECT_GT(read_fixed<double>(event, at), 1.6e9);
    } else if (key == (2 << 3 | 0)) {
      decoded.step = static_cast<int64_t>(read_varint(event, at));
    } else if (key == (3 << 3 | 2)) {
      const uint64_t n = read_varint(event, at);
      decoded.file_version = event.substr(at, n);
      at += n;
    } else {
      EXPECT_EQ(key, 5u << 3 | 2);
      const size_t end = read_varint(event, at) + at;
      while (at < end) {
        EXPECT_EQ(read_varint(event, at), 1u << 3 | 2);
        read_varint(event, at);  // the Value's length
        EXPECT_EQ(read_varint(event, at), 1u << 3 | 2);
        const uint64_t n = read_varint(event, at);
        std::string tag = event.substr(at, n);
        at += n;
        EXPECT_EQ(read_varint(event, at), 2u << 3 | 5);
        decoded.values.emplace_back(std::move(tag), read_fixed<float>(event, at));
      }
    }
  }
  return decoded;
}

TEST(EventFile, WritesAVersionRecordThenOneEventPerCall) {
  const fs::path dir = fs::temp_directory_path() / ("missrec_events_" + std::to_string(getpid()));
  fs::remove_all(dir);
  std::string path;
  {
    EventFile file(dir.string());
    file.add_scalars(7, {{"step/loss", 4.25}, {"step/time_s/forward", 0.125}});
    file.add_scalars(300, {{"epoch/valid_ndcg@10", 0.0625}});
    path = file.path();
  }
  EXPECT_EQ(fs::path(path).parent_path(), dir);
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);
  const std::vector<std::string> records = read_records(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(decode_event(records[0]).file_version, "brain.Event:2");
  const Decoded first = decode_event(records[1]);
  EXPECT_EQ(first.step, 7);
  ASSERT_EQ(first.values.size(), 2u);
  EXPECT_EQ(first.values[0], std::make_pair(std::string("step/loss"), 4.25f));
  EXPECT_EQ(first.values[1], std::make_pair(std::string("step/time_s/forward"), 0.125f));
  const Decoded second = decode_event(records[2]);
  EXPECT_EQ(second.step, 300);
  EXPECT_EQ(second.values.at(0), std::make_pair(std::string("epoch/valid_ndcg@10"), 0.0625f));
  fs::remove_all(dir);
}

TEST(EventFile, AnEmptyDirectoryWritesNothing) {
  EventFile file("");
  file.add_scalars(1, {{"step/loss", 1.0}});
  EXPECT_TRUE(file.path().empty());
}

TEST(TensorboardScalars, StepAndEpochNumbersWithoutTheirPosition) {
  JsonLine domains;
  domains.add("Food", 3.5);
  JsonLine step;
  step.add("kind", std::string("step")).add("epoch", 1).add("step", 2).add("global_step", 9).add("loss", 4.0);
  step.add("domain_seq_item", domains).add("note", std::string("text"));
  const auto scalars = tensorboard_scalars(step);
  ASSERT_EQ(scalars.size(), 2u);
  EXPECT_EQ(scalars[0], std::make_pair(std::string("step/loss"), 4.0));
  EXPECT_EQ(scalars[1], std::make_pair(std::string("step/domain_seq_item/Food"), 3.5));
  JsonLine checkpoint;
  checkpoint.add("kind", std::string("checkpoint")).add("global_step", 9).add("bytes", 100);
  EXPECT_TRUE(tensorboard_scalars(checkpoint).empty());
}

}  // namespace
}  // namespace missrec::train
