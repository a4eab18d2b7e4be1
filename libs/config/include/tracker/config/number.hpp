#pragma once
// A number given on a command line or in a file, within bounds, with a message that names it:
//   "--rate: not a number: 'fast'", "--port: 70000 is out of range [1, 65535]".
// Whole numbers are read in the widest type of their signedness, so a value too large for T is
// out of range rather than not a number. Nothing else is accepted: no sign on unsigned types, no
// spaces, no trailing text, no NaN.
#include <charconv>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace tracker::config {

template <typename T>
std::string number_text(T value) {
  if constexpr (std::is_floating_point_v<T>) {
    std::ostringstream out;
    out << value;
    return out.str();
  } else {
    return std::to_string(value);
  }
}

// `text` as a T in [min, max]; otherwise nullopt, with the reason in `error`.
template <typename T>
std::optional<T> parse_number(std::string_view name, std::string_view text, T min, T max,
                              std::string& error) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  using Read =
      std::conditional_t<std::is_floating_point_v<T>, T,
                         std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>>;
  const auto out_of_range = [&] {
    error = std::string(name) + ": " + std::string(text) + " is out of range [" + number_text(min) +
            ", " + number_text(max) + "]";
    return std::nullopt;
  };
  Read value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) return out_of_range();
  if (ec != std::errc{} || ptr != end || text.empty()) {
    error = std::string(name) + ": not a number: '" + std::string(text) + "'";
    return std::nullopt;
  }
  if (!(value >= static_cast<Read>(min) && value <= static_cast<Read>(max))) {
    return out_of_range();
  }
  return static_cast<T>(value);
}

}  // namespace tracker::config
