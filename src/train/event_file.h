#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace missrec::train {

// A TensorBoard event file: TFRecord framing (length, masked CRC-32C of the length, an
// `Event` protobuf, its masked CRC-32C) of `Event{wall_time, step, summary}` messages
// whose `Summary.Value`s carry `simple_value` scalars. The first record is the
// `file_version: "brain.Event:2"` event TensorBoard expects. Created in `dir` as
// events.out.tfevents.<unix time>.<host>.<pid> on the first write; every write is flushed,
// so TensorBoard shows a run while it trains. An empty `dir` writes nothing.
class EventFile {
 public:
  explicit EventFile(std::string dir);
  ~EventFile();
  EventFile(const EventFile&) = delete;
  EventFile& operator=(const EventFile&) = delete;

  // One event at `step` holding every (tag, value) pair.
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);
  const std::string& path() const { return path_; }

 private:
  void open();
  void write_record(const std::string& event);

  std::string dir_;
  std::string path_;
  std::FILE* file_ = nullptr;
};

// The protobuf bytes of one Event (exposed for tests).
std::string encode_scalar_event(double wall_time, int64_t step,
                                const std::vector<std::pair<std::string, double>>& scalars);

}  // namespace missrec::train
