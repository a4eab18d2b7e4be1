#pragma once
// librdkafka logs with syslog levels; this maps them onto the project's logger levels.
#include <tracker/log/logger.hpp>

namespace tracker::kafka::detail {

inline log::Level syslog_to_level(int level) {
  if (level <= 3) return log::Level::error;
  if (level == 4) return log::Level::warn;
  if (level <= 6) return log::Level::info;
  return log::Level::debug;
}

}  // namespace tracker::kafka::detail
