#include "tracker/llm/rate_headers.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include <tracker/http/backoff.hpp>

namespace tracker::llm {

namespace {

std::optional<double> number_prefix(std::string_view& text) {
  std::size_t end = 0;
  while (end < text.size() && ((text[end] >= '0' && text[end] <= '9') || text[end] == '.')) ++end;
  if (end == 0) return std::nullopt;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc{} || ptr != text.data() + end) return std::nullopt;
  text.remove_prefix(end);
  return value;
}

std::optional<double> header_number(const http::Response& response, std::string_view name) {
  const auto it = response.find(name);
  if (it == response.end()) return std::nullopt;
  std::string_view text(it->value().data(), it->value().size());
  const auto value = number_prefix(text);
  if (!value || !text.empty()) return std::nullopt;
  return value;
}

std::optional<std::chrono::milliseconds> header_duration(const http::Response& response,
                                                         std::string_view name) {
  const auto it = response.find(name);
  if (it == response.end()) return std::nullopt;
  return parse_duration(std::string_view(it->value().data(), it->value().size()));
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  bool bare = true;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto value = number_prefix(rest);
    if (!value) return std::nullopt;
    double unit_ms = 0;
    if (rest.starts_with("ms")) {
      unit_ms = 1;
      rest.remove_prefix(2);
    } else if (rest.starts_with("us") || rest.starts_with("\xC2\xB5s")) {
      unit_ms = 0.001;
      rest.remove_prefix(rest.starts_with("us") ? 2 : 3);
    } else if (rest.starts_with("ns")) {
      unit_ms = 0.000001;
      rest.remove_prefix(2);
    } else if (rest.starts_with("h")) {
      unit_ms = 3'600'000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("m")) {
      unit_ms = 60'000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("s")) {
      unit_ms = 1'000;
      rest.remove_prefix(1);
    } else if (rest.empty() && bare) {
      unit_ms = 1'000;  // "20": seconds
    } else {
      return std::nullopt;
    }
    bare = false;
    total_ms += *value * unit_ms;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e12) return std::nullopt;
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::ceil(total_ms - 1e-9))};
}

RateLimitHeaders read_rate_limit_headers(const http::Response& response) {
  return RateLimitHeaders{
      .limit_requests = header_number(response, "x-ratelimit-limit-requests"),
      .limit_tokens = header_number(response, "x-ratelimit-limit-tokens"),
      .remaining_requests = header_number(response, "x-ratelimit-remaining-requests"),
      .remaining_tokens = header_number(response, "x-ratelimit-remaining-tokens"),
      .reset_requests = header_duration(response, "x-ratelimit-reset-requests"),
      .reset_tokens = header_duration(response, "x-ratelimit-reset-tokens"),
  };
}

std::optional<std::chrono::milliseconds> read_retry_after(const http::Response& response) {
  if (const auto ms = header_number(response, "retry-after-ms")) {
    // A day at most, as http::parse_retry_after caps retry-after; a larger double would not
    // fit the milliseconds' integer.
    return std::chrono::milliseconds{
        static_cast<std::int64_t>(std::ceil(std::min(*ms, 86'400'000.0)))};
  }
  const auto it = response.find("retry-after");
  if (it == response.end()) return std::nullopt;
  return http::parse_retry_after(std::string_view(it->value().data(), it->value().size()));
}

}  // namespace tracker::llm
