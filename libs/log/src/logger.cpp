#include <tracker/log/logger.hpp>

#include <algorithm>

#include <tracker/log/redaction.hpp>
#include <tracker/log/timestamp.hpp>

namespace tracker::log {

namespace {

void write_stderr(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn" || text == "warning") return Level::warn;
  if (text == "error") return Level::error;
  return std::nullopt;
}

std::string_view to_string(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

Logger::Logger(LoggerOptions options) : options_(std::move(options)) {
  if (!options_.sink) options_.sink = write_stderr;
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
}

void Logger::redact(std::string value) {
  if (value.size() < 4) return;
  std::lock_guard lock(mutex_);
  if (std::find(redactions_.begin(), redactions_.end(), value) == redactions_.end()) {
    redactions_.push_back(std::move(value));
  }
}

std::string Logger::format(Level level, std::string_view event, nlohmann::json fields) const {
  // ordered_json keeps ts, level, service, event first, as people read them.
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["ts"] = iso8601_utc(options_.clock());
  line["level"] = to_string(level);
  line["service"] = options_.service;
  line["event"] = event;
  if (!fields.is_object()) fields = nlohmann::json{{"value", std::move(fields)}};
  {
    std::lock_guard lock(mutex_);
    scrub(fields, redactions_);
  }
  for (auto& [key, value] : fields.items()) {
    if (!line.contains(key)) line[key] = std::move(value);
  }
  // Invalid UTF-8 from the network must not turn a log call into an exception.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void Logger::log(Level level, std::string_view event, nlohmann::json fields) {
  if (!enabled(level)) return;
  const std::string text = format(level, event, std::move(fields));
  std::lock_guard lock(mutex_);
  options_.sink(text);
}

Logger& null_logger() {
  static Logger logger(
      {.service = "", .min_level = Level::error, .sink = [](std::string_view) {}, .clock = {}});
  return logger;
}

}  // namespace tracker::log
