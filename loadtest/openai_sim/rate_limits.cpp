#include "rate_limits.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "openai_simulator.hpp"
#include "openai_wire.hpp"
#include "simulator_records.hpp"

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using Clock = std::chrono::steady_clock;
using openai::kOrganization;
using openai::openai_error;

namespace openai {

namespace {

long long ceil_milliseconds(Clock::duration wait) {
  return static_cast<long long>(
      std::ceil(std::chrono::duration<double, std::milli>(wait).count() - 1e-9));
}

}  // namespace

http::Response rate_limited(const std::string& model, const char* kind, double limit, double used,
                            double requested, Clock::duration wait, unsigned version) {
  const bool requests = std::string_view(kind) == "requests";
  const std::string message =
      "Rate limit reached for " + model + " in organization " + kOrganization + " on " +
      (requests ? "requests per min (RPM)" : "tokens per min (TPM)") + ": Limit " +
      std::to_string(std::llround(limit)) + ", Used " + std::to_string(std::llround(used)) +
      ", Requested " + std::to_string(std::llround(requested)) + ". Please try again in " +
      format_reset_duration(wait) +
      ". Visit https://platform.openai.com/account/rate-limits to learn more.";
  http::Response response = openai_error(bh::status::too_many_requests, message, kind, nullptr,
                                         "rate_limit_exceeded", version);
  response.set(bh::field::retry_after, std::to_string(static_cast<long long>(std::ceil(
                                           std::chrono::duration<double>(wait).count() - 1e-9))));
  response.set("retry-after-ms", std::to_string(ceil_milliseconds(wait)));
  return response;
}

}  // namespace openai

std::string format_reset_duration(std::chrono::nanoseconds duration) {
  if (duration <= std::chrono::nanoseconds::zero()) return "0s";
  // Rounded up: a client that waits this long finds the bucket as described.
  const auto ms = (duration.count() + 999'999) / 1'000'000;
  if (ms < 1'000) return std::to_string(ms) + "ms";
  std::string out;
  const auto hours = ms / 3'600'000;
  const auto minutes = ms / 60'000 % 60;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  const auto seconds_ms = ms % 60'000;
  out += std::to_string(seconds_ms / 1'000);
  if (auto fraction = seconds_ms % 1'000; fraction > 0) {
    char digits[8];
    std::snprintf(digits, sizeof digits, ".%03lld", static_cast<long long>(fraction));
    std::string text = digits;
    while (text.back() == '0') text.pop_back();
    out += text;
  }
  return out + "s";
}

void OpenAiSimulator::rebuild_buckets() {
  const auto now = Clock::now();
  requests_bucket_ =
      async::TokenBucket(options_.requests_per_minute / 60.0, options_.requests_per_minute, now);
  tokens_bucket_ =
      async::TokenBucket(options_.tokens_per_minute / 60.0, options_.tokens_per_minute, now);
}

// x-ratelimit-* as OpenAI sends them: the limit, what is left (whole units), and how long until
// the bucket is full again. A limit of 0 (none) has no headers.
void OpenAiSimulator::set_rate_limit_headers(http::Response& response, Clock::time_point now) {
  const auto add = [&](const char* kind, double limit, const async::TokenBucket& bucket) {
    if (limit <= 0) return;
    const double tokens = bucket.tokens(now);
    const double seconds_to_full = std::max(0.0, (limit - tokens) / (limit / 60.0));
    response.set(std::string("x-ratelimit-limit-") + kind,
                 std::to_string(static_cast<long long>(std::floor(limit))));
    response.set(std::string("x-ratelimit-remaining-") + kind,
                 std::to_string(static_cast<long long>(std::max(0.0, std::floor(tokens)))));
    response.set(std::string("x-ratelimit-reset-") + kind,
                 format_reset_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::duration<double>(seconds_to_full))));
  };
  add("requests", options_.requests_per_minute, requests_bucket_);
  add("tokens", options_.tokens_per_minute, tokens_bucket_);
}

std::optional<http::Response> OpenAiSimulator::admit(const std::string& model,
                                                     std::uint64_t estimate, unsigned version,
                                                     Decision& decision) {
  // Rate limits, checked together at admission: a refused request spends nothing.
  const auto now = Clock::now();
  decision.admitted_at = now;
  const double rpm = options_.requests_per_minute;
  const double tpm = options_.tokens_per_minute;
  if (tpm > 0 && static_cast<double>(estimate) > tpm) {
    // Larger than the whole bucket: no wait makes it fit, so no retry-after either.
    ++stats_.limit_429_tokens;
    return openai_error(bh::status::too_many_requests,
                        "Request too large for " + model + " in organization " + kOrganization +
                            " on tokens per min (TPM): Limit " + std::to_string(std::llround(tpm)) +
                            ", Requested " + std::to_string(estimate) +
                            ". The input or output tokens must be reduced in order to run "
                            "successfully. Visit https://platform.openai.com/account/rate-limits "
                            "to learn more.",
                        "tokens", nullptr, "rate_limit_exceeded", version);
  }
  if (const auto wait = requests_bucket_.wait(now); rpm > 0 && wait > Clock::duration::zero()) {
    ++stats_.limit_429_requests;
    return openai::rate_limited(model, "requests", rpm, rpm - requests_bucket_.tokens(now), 1, wait,
                                version);
  }
  if (const auto wait = tokens_bucket_.wait(now, static_cast<double>(estimate));
      tpm > 0 && wait > Clock::duration::zero()) {
    ++stats_.limit_429_tokens;
    return openai::rate_limited(model, "tokens", tpm, tpm - tokens_bucket_.tokens(now),
                                static_cast<double>(estimate), wait, version);
  }
  requests_bucket_.take(now);
  tokens_bucket_.take(now, static_cast<double>(estimate));
  return std::nullopt;
}

}  // namespace tracker::loadtest
