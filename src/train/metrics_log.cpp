#include "train/metrics_log.h"

#include <cmath>

#include "runtime/error.h"

namespace missrec::train {

StepTimes& StepTimes::operator+=(const StepTimes& other) {
  data += other.data;
  forward += other.forward;
  backward += other.backward;
  comm += other.comm;
  optimizer += other.optimizer;
  return *this;
}

JsonLine step_times_json(const StepTimes& times, double divisor) {
  const double d = divisor > 0 ? divisor : 1.0;
  JsonLine line;
  line.add("data", times.data / d)
      .add("forward", times.forward / d)
      .add("backward", times.backward / d)
      .add("comm", times.comm / d)
      .add("optimizer", times.optimizer / d);
  return line;
}

MetricsFile::MetricsFile(const std::string& path, const std::string& tensorboard_dir)
    : path_(path), events_(tensorboard_dir) {}

MetricsFile::~MetricsFile() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsFile::write(const JsonLine& line) {
  if (path_.empty()) return;
  if (file_ == nullptr) {
    file_ = std::fopen(path_.c_str(), "a");
    if (file_ == nullptr) runtime::throw_input_error(path_, "cannot open for appending");
  }
  const std::string text = line.str() + "\n";
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
  const nlohmann::ordered_json& json = line.json();
  if (json.contains("global_step")) events_.add_scalars(json["global_step"].get<int64_t>(), tensorboard_scalars(line));
}

namespace {

void add_numbers(const std::string& prefix, const nlohmann::ordered_json& object,
                 std::vector<std::pair<std::string, double>>& scalars) {
  for (const auto& [key, value] : object.items()) {
    if (value.is_object()) {
      add_numbers(prefix + key + "/", value, scalars);
    } else if (value.is_number()) {
      scalars.emplace_back(prefix + key, value.get<double>());
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, double>> tensorboard_scalars(const JsonLine& line) {
  std::vector<std::pair<std::string, double>> scalars;
  const nlohmann::ordered_json& json = line.json();
  const std::string kind = json.value("kind", std::string());
  if (kind != "step" && kind != "epoch") return scalars;
  nlohmann::ordered_json numbers = json;
  for (const char* position : {"kind", "epoch", "step", "steps", "global_step"}) numbers.erase(position);
  add_numbers(kind + "/", numbers, scalars);
  return scalars;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t total = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", static_cast<long long>(total / 3600),
                  static_cast<long long>(total % 3600 / 60));
  } else if (total >= 60) {
    std::snprintf(text, sizeof text, "%lldm%02llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  } else {
    std::snprintf(text, sizeof text, "%llds", static_cast<long long>(total));
  }
  return text;
}

}  // namespace missrec::train
