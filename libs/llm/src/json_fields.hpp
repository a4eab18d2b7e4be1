#pragma once
// Reading fields of OpenAI's answers, whose types the server (or whatever answers in its place)
// decides: json::value() would throw for a field of another type, and converting 1e300 to int is
// undefined. These read a field only when it has the expected type and range.
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace tracker::llm::detail {

// The string `name` of `object`; empty when `object` is not an object, or the field is missing or
// not a string.
inline std::string string_field(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return {};
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// The count `name` of `object`: an integer in [0, INT_MAX], else 0 (another type, a fraction, or
// a number an int cannot hold).
inline int count_field(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return 0;
  const auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return 0;
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    return value <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())
               ? static_cast<int>(value)
               : 0;
  }
  const auto value = it->get<std::int64_t>();
  return value >= 0 && value <= std::numeric_limits<int>::max() ? static_cast<int>(value) : 0;
}

}  // namespace tracker::llm::detail
