#pragma once
// What an OpenAI-compatible server says about its rate limits, on every answer:
//   x-ratelimit-limit-requests / -tokens       the limits per minute
//   x-ratelimit-remaining-requests / -tokens   what is left
//   x-ratelimit-reset-requests / -tokens       until the limit is whole again ("1s", "6m0s")
// and, on a 429, how long to wait: retry-after-ms (milliseconds) or retry-after (seconds).
#include <chrono>
#include <optional>
#include <string_view>

#include <tracker/http/responses.hpp>

namespace tracker::llm {

// A duration as OpenAI writes them (Go's time.Duration format): "1s", "6m0s", "12ms",
// "59.577s", "1h2m3.5s", "250us", "0s"; a bare number is seconds. Anything else, negative
// values included, is std::nullopt. Sub-millisecond parts round up.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

struct RateLimitHeaders {
  std::optional<double> limit_requests;
  std::optional<double> limit_tokens;
  std::optional<double> remaining_requests;
  std::optional<double> remaining_tokens;
  std::optional<std::chrono::milliseconds> reset_requests;
  std::optional<std::chrono::milliseconds> reset_tokens;
  [[nodiscard]] bool any() const noexcept {
    return limit_requests || limit_tokens || remaining_requests || remaining_tokens ||
           reset_requests || reset_tokens;
  }
};

// Reads the x-ratelimit-* headers; a header that is missing or malformed stays std::nullopt.
RateLimitHeaders read_rate_limit_headers(const http::Response& response);

// retry-after-ms, else retry-after (seconds or an HTTP date); std::nullopt if neither parses.
std::optional<std::chrono::milliseconds> read_retry_after(const http::Response& response);

}  // namespace tracker::llm
