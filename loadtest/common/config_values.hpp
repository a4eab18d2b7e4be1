#pragma once
// Reading the simulators' settings from a JSON body (POST /_sim/config): each refuses a value of
// the wrong kind with std::invalid_argument naming the key.
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace tracker::loadtest {

// A probability, 0 to 1.
inline double get_rate(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number()) throw std::invalid_argument(key + " must be a number");
  const double rate = value.get<double>();
  if (rate < 0 || rate > 1) throw std::invalid_argument(key + " must be between 0 and 1");
  return rate;
}

inline double get_non_negative(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number() || value.get<double>() < 0) {
    throw std::invalid_argument(key + " must be a number >= 0");
  }
  return value.get<double>();
}

}  // namespace tracker::loadtest
