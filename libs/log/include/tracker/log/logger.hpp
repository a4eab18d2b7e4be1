#pragma once
// Structured logs: one JSON object per line with time, level, service, event and fields.
//
//   tracker::log::Logger log({.service = "ingest"});
//   log.info("event_published", {{"topic", "slack-events"}, {"partition", 3}});
//
// Secrets never reach the output: values under secret-looking keys are replaced, every string
// is scrubbed of values registered with redact(), and fields named "text" keep only a short
// prefix (message text is personal data).
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tracker::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<Level> parse_level(std::string_view text);
std::string_view to_string(Level level);

// Where finished lines go. The default writes each line to stderr with one fwrite.
using Sink = std::function<void(std::string_view line)>;
using WallClock = std::function<std::chrono::system_clock::time_point()>;

struct LoggerOptions {
  std::string service;
  Level min_level = Level::info;
  Sink sink;        // empty: stderr
  WallClock clock;  // empty: system_clock::now
};

class Logger {
 public:
  explicit Logger(LoggerOptions options);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void log(Level level, std::string_view event, nlohmann::json fields = nlohmann::json::object());
  void debug(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    log(Level::debug, event, std::move(fields));
  }
  void info(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    log(Level::info, event, std::move(fields));
  }
  void warn(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    log(Level::warn, event, std::move(fields));
  }
  void error(std::string_view event, nlohmann::json fields = nlohmann::json::object()) {
    log(Level::error, event, std::move(fields));
  }

  [[nodiscard]] bool enabled(Level level) const noexcept { return level >= options_.min_level; }

  // Registers a secret value (a signing secret, a token, a password inside a URL) so that it is
  // replaced wherever it appears in a logged string. Values shorter than 4 characters are
  // ignored: scrubbing them would mangle ordinary text without protecting anything.
  void redact(std::string value);

  // The line that log() would write, without writing it; used by tests and by log().
  [[nodiscard]] std::string format(Level level, std::string_view event,
                                   nlohmann::json fields) const;

 private:
  LoggerOptions options_;
  mutable std::mutex mutex_;  // guards redactions_ and serialises writes to the sink
  std::vector<std::string> redactions_;
};

// A logger that drops everything; for tests and tools that have nothing to say.
Logger& null_logger();

}  // namespace tracker::log
