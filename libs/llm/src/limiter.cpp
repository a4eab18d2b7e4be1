#include "tracker/llm/limiter.hpp"

#include <algorithm>

namespace tracker::llm {

RateLimiter::RateLimiter(LimiterOptions options, Clock::time_point now)
    : options_(options),
      rpm_(options.requests_per_minute),
      tpm_(options.tokens_per_minute),
      requests_(make_bucket(rpm_, now)),
      tokens_(make_bucket(tpm_, now)) {}

async::TokenBucket RateLimiter::make_bucket(double per_minute, Clock::time_point now) const {
  if (per_minute <= 0) return async::TokenBucket(0, 1, now);  // unlimited
  const double rate = per_minute * (1.0 - options_.headroom) / 60.0;
  const double burst = std::max(1.0, std::min(per_minute, rate * options_.burst_seconds));
  return async::TokenBucket(rate, burst, now);
}

RateLimiter::Clock::duration RateLimiter::wait(Clock::time_point now, double tokens) const {
  Clock::duration longest = held_until_ > now ? held_until_ - now : Clock::duration::zero();
  longest = std::max(longest, requests_.wait(now, 1.0));
  if (tpm_ > 0) longest = std::max(longest, tokens_.wait(now, tokens));
  return longest;
}

RateLimiter::Ticket RateLimiter::take(Clock::time_point now, double tokens) {
  Ticket ticket{.requests_before = requests_taken_,
                .tokens_before = tokens_taken_,
                .tokens = tokens,
                .sent_at = now};
  requests_.take(now, 1.0);
  tokens_.take(now, tokens);
  ++requests_taken_;
  tokens_taken_ += tokens;
  return ticket;
}

void RateLimiter::correct(async::TokenBucket& bucket, double per_minute, double remaining,
                          double sent_after, Clock::time_point now, Clock::time_point sent_at) {
  // The server counted `remaining` when it admitted the request; since then it refilled at
  // most its own rate, and what we sent after that request was not yet counted.
  const double elapsed = std::chrono::duration<double>(now - sent_at).count();
  const double server_now = remaining + std::max(0.0, elapsed) * per_minute / 60.0 - sent_after;
  if (server_now < bucket.tokens(now)) {
    bucket.set_tokens(now, server_now);
    ++corrections_;
  }
}

void RateLimiter::observe(Clock::time_point now, const RateLimitHeaders& headers,
                          const Ticket& ticket) {
  if (headers.limit_requests && *headers.limit_requests > 0 &&
      (rpm_ <= 0 || *headers.limit_requests < rpm_)) {
    rpm_ = *headers.limit_requests;
    const double left = requests_.tokens(now);
    requests_ = make_bucket(rpm_, now);
    requests_.set_tokens(now, left);
  }
  if (headers.limit_tokens && *headers.limit_tokens > 0 &&
      (tpm_ <= 0 || *headers.limit_tokens < tpm_)) {
    tpm_ = *headers.limit_tokens;
    const double left = tokens_.tokens(now);
    tokens_ = make_bucket(tpm_, now);
    tokens_.set_tokens(now, left);
  }
  auto remaining_of = [](std::optional<double> remaining, std::optional<double> limit,
                         std::optional<std::chrono::milliseconds> reset,
                         double per_minute) -> std::optional<double> {
    if (remaining) return remaining;
    // Without a remaining count, the time to a whole limit says how much is missing.
    if (reset && limit && per_minute > 0) {
      return *limit - std::chrono::duration<double>(*reset).count() * per_minute / 60.0;
    }
    return std::nullopt;
  };
  if (rpm_ > 0) {
    if (auto remaining = remaining_of(headers.remaining_requests, headers.limit_requests,
                                      headers.reset_requests, rpm_)) {
      const double sent_after = static_cast<double>(requests_taken_ - ticket.requests_before - 1);
      correct(requests_, rpm_, *remaining, sent_after, now, ticket.sent_at);
    }
  }
  if (tpm_ > 0) {
    if (auto remaining = remaining_of(headers.remaining_tokens, headers.limit_tokens,
                                      headers.reset_tokens, tpm_)) {
      const double sent_after = tokens_taken_ - ticket.tokens_before - ticket.tokens;
      correct(tokens_, tpm_, *remaining, sent_after, now, ticket.sent_at);
    }
  }
}

void RateLimiter::hold(Clock::time_point now, Clock::duration duration) {
  held_until_ = std::max(held_until_, now + duration);
}

}  // namespace tracker::llm
