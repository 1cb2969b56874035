#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

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

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  // Seconds since construction or the previous lap.
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    start_ = now;
    return seconds;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// A JSON object built field by field, in insertion order, for one metrics.jsonl line
// or a benchmark's report (nlohmann::json writes it; non-finite numbers become null).
class JsonLine {
 public:
  template <class T>
  JsonLine& add(const std::string& key, const T& value) {
    object_[key] = value;
    return *this;
  }
  JsonLine& add(const std::string& key, const JsonLine& object) {
    object_[key] = object.object_;
    return *this;
  }
  std::string str() const { return object_.dump(); }

 private:
  nlohmann::ordered_json object_ = nlohmann::ordered_json::object();
};

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
