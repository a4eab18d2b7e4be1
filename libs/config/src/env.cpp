#include <tracker/config/env.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>

namespace tracker::config {

namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out = "invalid configuration:";
  for (const auto& line : lines) {
    out += "\n  ";
    out += line;
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || text.empty()) return std::nullopt;
  return value;
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
  });
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  auto value = parse_int(text);
  if (!value || *value < 1 || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): start-up only
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

EnvLookup fixed_environment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

Env::Env() : Env(process_environment()) {}
Env::Env(EnvLookup lookup) : lookup_(std::move(lookup)) {}

std::optional<std::string> Env::get(const std::string& name) const {
  return lookup_(name);
}

void Env::fail(const std::string& name, const std::string& problem) {
  problems_.push_back(name + ": " + problem);
}

std::string Env::required(const std::string& name) {
  auto value = get(name);
  if (!value) {
    fail(name, "is required but not set");
    return {};
  }
  if (value->empty()) {
    fail(name, "is required but empty");
    return {};
  }
  return *value;
}

std::string Env::optional(const std::string& name, std::string fallback) {
  auto value = get(name);
  if (!value || value->empty()) return fallback;
  return *value;
}

std::string Env::sql_identifier(const std::string& name) {
  std::string value = optional(name, "");
  const bool valid = std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!valid || (!value.empty() && value.front() >= '0' && value.front() <= '9')) {
    fail(name, "lower-case letters, digits and underscores only, not starting with a digit");
    return "";
  }
  return value;
}

Secret Env::secret(const std::string& name) {
  return Secret(required(name));
}

Secret Env::optional_secret(const std::string& name) {
  auto value = get(name);
  if (!value) return Secret{};
  if (value->empty()) {
    fail(name, "is set but empty (unset it, or give it a value)");
    return Secret{};
  }
  return Secret(*value);
}

std::int64_t Env::integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                          std::int64_t max) {
  auto value = get(name);
  if (!value || value->empty()) return fallback;
  auto parsed = parse_int(*value);
  if (!parsed) {
    fail(name, "expected an integer, got \"" + *value + "\"");
    return fallback;
  }
  if (*parsed < min || *parsed > max) {
    fail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                   std::to_string(*parsed));
    return fallback;
  }
  return *parsed;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits == text.size()) return std::nullopt;
  auto number = parse_int(text.substr(0, digits));
  if (!number) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  std::int64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else {
    return std::nullopt;
  }
  if (*number > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
  return std::chrono::milliseconds{*number * factor};
}

std::chrono::milliseconds Env::duration(const std::string& name, std::chrono::milliseconds fallback,
                                        std::chrono::milliseconds min,
                                        std::chrono::milliseconds max) {
  auto value = get(name);
  if (!value || value->empty()) return fallback;
  auto parsed = parse_duration(*value);
  if (!parsed) {
    fail(name, "expected a duration such as 250ms, 2s, 5m or 1h, got \"" + *value + "\"");
    return fallback;
  }
  if (*parsed < min || *parsed > max) {
    fail(name, "must be between " + std::to_string(min.count()) + "ms and " +
                   std::to_string(max.count()) + "ms, got " + *value);
    return fallback;
  }
  return *parsed;
}

bool Env::flag(const std::string& name, bool fallback) {
  auto value = get(name);
  if (!value || value->empty()) return fallback;
  const std::string v = lower(*value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  fail(name, "expected true or false, got \"" + *value + "\"");
  return fallback;
}

std::string Env::one_of(const std::string& name, std::string fallback,
                        const std::vector<std::string>& allowed) {
  auto value = get(name);
  if (!value || value->empty()) return fallback;
  if (std::find(allowed.begin(), allowed.end(), *value) != allowed.end()) return *value;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(name, "expected one of " + list + ", got \"" + *value + "\"");
  return fallback;
}

std::string Env::kafka_brokers(const std::string& name) {
  const std::string value = required(name);
  if (value.empty()) return value;
  std::string_view rest = value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view entry = rest.substr(0, comma);
    const auto colon = entry.rfind(':');
    if (colon == std::string_view::npos || !valid_host(entry.substr(0, colon)) ||
        !parse_port(entry.substr(colon + 1))) {
      fail(name, "expected host:port[,host:port...], got \"" + value + "\"");
      return {};
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return value;
}

std::uint16_t Env::listen_port(const std::string& name, std::uint16_t fallback) {
  auto value = get(name);
  if (!value || value->empty()) return fallback;
  if (*value == "0") return 0;
  auto port = parse_port(*value);
  if (!port) {
    fail(name, "expected a port between 0 and 65535, got \"" + *value + "\"");
    return fallback;
  }
  return *port;
}

void Env::finish() const {
  if (!problems_.empty()) throw ConfigError(problems_);
}

}  // namespace tracker::config
