#pragma once
// Configuration from environment variables, parsed once at start into a plain struct.
//
//   tracker::config::Env env;                       // reads the process environment
//   Settings s{.brokers = env.kafka_brokers("KAFKA_BROKERS"),
//              .deadline = env.duration("TRACKER_PUBLISH_DEADLINE", 2s)};
//   env.finish();   // throws ConfigError naming every missing or malformed variable
//
// Every accessor returns a usable value even when the variable is bad (the default, or empty),
// so that one start-up reports all problems at once instead of the first one only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <tracker/config/secret.hpp>

namespace tracker::config {

// Thrown by Env::finish(); what() lists one problem per line, each starting with the variable.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Where variables come from: the process environment, or a map in tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();
EnvLookup fixed_environment(std::map<std::string, std::string> values);

class Env {
 public:
  Env();
  explicit Env(EnvLookup lookup);

  // A required, non-empty string.
  std::string required(const std::string& name);
  std::string optional(const std::string& name, std::string fallback);
  Secret secret(const std::string& name);
  // Empty Secret when unset; malformed only if set to an empty string.
  Secret optional_secret(const std::string& name);
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  // "250ms", "2s", "5m", "1h"; a bare number is rejected because its unit would be a guess.
  std::chrono::milliseconds duration(const std::string& name, std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min = std::chrono::milliseconds{0},
                                     std::chrono::milliseconds max = std::chrono::hours{24 * 365});
  // true/false, 1/0, yes/no, on/off (any case).
  bool flag(const std::string& name, bool fallback);
  // One of `allowed`, compared exactly.
  std::string one_of(const std::string& name, std::string fallback,
                     const std::vector<std::string>& allowed);
  // host:port[,host:port...] with a port in 1..65535.
  std::string kafka_brokers(const std::string& name);
  // A lower-case SQL identifier (letters, digits, underscores), such as a schema name; empty
  // when unset.
  std::string sql_identifier(const std::string& name);
  // A TCP port, 0..65535 (0 asks the kernel for a free one, as tests do).
  std::uint16_t listen_port(const std::string& name, std::uint16_t fallback);

  // Records a problem found by the caller's own validation of `name`.
  void fail(const std::string& name, const std::string& problem);

  [[nodiscard]] bool ok() const noexcept { return problems_.empty(); }
  // Throws ConfigError if any accessor recorded a problem.
  void finish() const;

 private:
  std::optional<std::string> get(const std::string& name) const;

  EnvLookup lookup_;
  std::vector<std::string> problems_;
};

// Parses "250ms" / "2s" / "5m" / "1h"; std::nullopt if malformed. Exposed for tests and tools.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace tracker::config
