#include <tracker/log/timestamp.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>

namespace tracker::log {

std::string iso8601_utc(std::chrono::system_clock::time_point tp) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buffer,
                static_cast<int>(ms % 1000));
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text) {
  if (text.size() < 20 || text.size() > 40 || text.back() != 'Z') return std::nullopt;
  const std::string copy(text);
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int consumed = 0;
  if (std::sscanf(copy.c_str(), "%4d-%2u-%2uT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6 ||
      consumed != 19 || copy[4] != '-' || copy[7] != '-' || copy[10] != 'T') {
    return std::nullopt;
  }
  // Four digits, no sign; and a year system_clock can hold: it counts nanoseconds in 64 bits,
  // from 1677-09-21 to 2262-04-11, and a time outside that would overflow, not fail.
  if (!std::all_of(copy.begin(), copy.begin() + 4, [](char c) { return c >= '0' && c <= '9'; }) ||
      year < 1678 || year > 2261) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{month},
                                         std::chrono::day{day}};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60 || hour < 0 || minute < 0 ||
      second < 0) {
    return std::nullopt;
  }
  std::chrono::nanoseconds fraction{0};
  std::string_view rest = text.substr(19, text.size() - 20);
  if (!rest.empty()) {
    if (rest.front() != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    long long nanos = 0;
    for (std::size_t i = 1; i < 10; ++i) {
      const char c = i < rest.size() ? rest[i] : '0';
      if (c < '0' || c > '9') return std::nullopt;
      nanos = nanos * 10 + (c - '0');
    }
    fraction = std::chrono::nanoseconds{nanos};
  }
  const auto at = std::chrono::sys_days{date} + std::chrono::hours{hour} +
                  std::chrono::minutes{minute} + std::chrono::seconds{second} + fraction;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(at);
}

}  // namespace tracker::log
