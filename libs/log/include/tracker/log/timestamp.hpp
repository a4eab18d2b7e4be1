#pragma once
#include <chrono>
#include <string>

namespace tracker::log {

// "2026-11-22T02:05:21.123Z": UTC with milliseconds, as log lines and topic messages carry it.
std::string iso8601_utc(std::chrono::system_clock::time_point tp);

}  // namespace tracker::log
