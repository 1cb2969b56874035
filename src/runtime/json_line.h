#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace missrec::runtime {

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
  // Appends every field of `other` (a field already here takes the new value).
  JsonLine& merge(const JsonLine& other) {
    for (const auto& [key, value] : other.object_.items()) object_[key] = value;
    return *this;
  }
  bool empty() const { return object_.empty(); }
  const nlohmann::ordered_json& json() const { return object_; }
  std::string str() const { return object_.dump(); }

 private:
  nlohmann::ordered_json object_ = nlohmann::ordered_json::object();
};

}  // namespace missrec::runtime
