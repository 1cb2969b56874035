#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/json_line.h"
#include "runtime/stopwatch.h"

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
// what it logged; opened at the first line. Rank 0 only (others pass an empty path and
// write nothing).
class MetricsFile {
 public:
  explicit MetricsFile(const std::string& path);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;
  void write(const JsonLine& line);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// "1h02m", "3m12s", "42s".
std::string format_duration(double seconds);

}  // namespace missrec::train
