#pragma once
// Retry policy pieces shared by the clients of external APIs: capped exponential backoff with
// jitter, and the Retry-After header.
#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace tracker::http {

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{8'000};
  double multiplier = 2.0;
  // The delay is drawn uniformly from [d * (1 - jitter), d], so that clients that failed
  // together do not retry together. 0: no jitter; 1: "full jitter".
  double jitter = 0.5;
};

// The wait before retry number `retry` (1 for the first retry): initial * multiplier^(retry-1),
// capped at max, then jittered with `rng`.
std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int retry,
                                        std::mt19937_64& rng);

// Retry-After (RFC 9110 10.2.3): delay-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2015 07:28:00 GMT", measured from `now`; a date in the past is 0), at most a
// day, however many digits or however far the date: a larger value is a mistake or a ban, not a
// wait. Anything else, negative numbers included, is std::nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace tracker::http
