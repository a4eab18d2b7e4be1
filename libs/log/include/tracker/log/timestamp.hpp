#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tracker::log {

// "2026-11-22T02:05:21.123Z": UTC with milliseconds, as log lines and topic messages carry it.
std::string iso8601_utc(std::chrono::system_clock::time_point tp);

// Reads what iso8601_utc writes, and more generally an RFC 3339 UTC time with or without a
// fraction of a second: "2026-11-22T02:05:21Z", "2026-11-22T02:05:21.123456Z". Other offsets
// and malformed or impossible dates are std::nullopt.
std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text);

}  // namespace tracker::log
