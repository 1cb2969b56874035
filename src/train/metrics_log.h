#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/json_line.h"
#include "runtime/stopwatch.h"
#include "train/event_file.h"

namespace missrec::train {

// Wall-clock split of training steps.
struct StepTimes {
  double data = 0.0;
  double forward = 0.0;
  double backward = 0.0;
  double comm = 0.0;
  double optimizer = 0.0;
  double total() const { return data + forward + backward + comm + optimizer; }
  StepTimes& operator+=(const StepTimes& other);
};

using runtime::JsonLine;
using runtime::Stopwatch;

JsonLine step_times_json(const StepTimes& times, double divisor);

// Appends lines to <run.dir>/metrics.jsonl, flushed per line so a killed run keeps
// what it logged; opened at the first line. The numeric fields of "step" and "epoch"
// lines also go to a TensorBoard event file in `tensorboard_dir`, at their global_step,
// tagged <kind>/<field> (nested objects add /<key>: "epoch/domain_seq_item/Food").
// Rank 0 only (others pass empty paths and write nothing).
class MetricsFile {
 public:
  MetricsFile(const std::string& path, const std::string& tensorboard_dir);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;
  void write(const JsonLine& line);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  EventFile events_;
};

// The (tag, value) scalars of a "step" or "epoch" metrics line (none for other kinds):
// every number except the line's position (epoch, step, steps, global_step).
std::vector<std::pair<std::string, double>> tensorboard_scalars(const JsonLine& line);

// "1h02m", "3m12s", "42s".
std::string format_duration(double seconds);

}  // namespace missrec::train
