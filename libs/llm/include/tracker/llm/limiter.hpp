#pragma once
// A client-side limiter for an API limited in requests and tokens per minute (OpenAI's RPM and
// TPM), so that requests wait here instead of being refused with 429 there.
//
// Two token buckets refill at the configured rates less a little headroom, so that in steady
// state the server's own buckets never quite run dry. Every answer's x-ratelimit-* headers
// correct them: the server's remaining count, advanced by what it refilled since and less what
// was sent since, replaces ours when it is lower (another client sharing the key, a limit
// lower than configured); a limit header below the configured rate lowers the rate; with no
// configured rate, the first limit header sets it. A 429 closes the limiter until its
// retry-after has passed.
//
// Not thread-safe: one owner (the summarizer's executor). Time is explicit so tests drive it.
#include <chrono>
#include <cstdint>

#include <tracker/async/token_bucket.hpp>
#include <tracker/llm/rate_headers.hpp>

namespace tracker::llm {

struct LimiterOptions {
  double requests_per_minute = 0;  // 0: no limit until a server states one
  double tokens_per_minute = 0;
  double headroom = 0.02;     // share of each rate left unused
  double burst_seconds = 10;  // how many seconds' worth may go at once
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // What a request spent, for observe() to match the answer with.
  struct Ticket {
    std::uint64_t requests_before = 0;  // requests taken before this one
    double tokens_before = 0;           // tokens taken before this one
    double tokens = 0;
    Clock::time_point sent_at{};
  };

  RateLimiter(LimiterOptions options, Clock::time_point now);

  // How long until a request estimated at `tokens` may go (zero: now).
  [[nodiscard]] Clock::duration wait(Clock::time_point now, double tokens) const;
  // Spends one request and `tokens`.
  Ticket take(Clock::time_point now, double tokens);
  // Corrects the buckets from the headers of the answer to `ticket`'s request.
  void observe(Clock::time_point now, const RateLimitHeaders& headers, const Ticket& ticket);
  // Nothing goes for `duration` from now (a 429's retry-after).
  void hold(Clock::time_point now, Clock::duration duration);

  [[nodiscard]] double requests_per_minute() const noexcept { return rpm_; }
  [[nodiscard]] double tokens_per_minute() const noexcept { return tpm_; }
  [[nodiscard]] double requests_available(Clock::time_point now) const {
    return requests_.tokens(now);
  }
  [[nodiscard]] double tokens_available(Clock::time_point now) const { return tokens_.tokens(now); }
  [[nodiscard]] std::uint64_t corrections() const noexcept { return corrections_; }

 private:
  [[nodiscard]] async::TokenBucket make_bucket(double per_minute, Clock::time_point now) const;
  void correct(async::TokenBucket& bucket, double per_minute, double remaining, double sent_after,
               Clock::time_point now, Clock::time_point sent_at);

  LimiterOptions options_;
  double rpm_;
  double tpm_;
  async::TokenBucket requests_;
  async::TokenBucket tokens_;
  std::uint64_t requests_taken_ = 0;
  double tokens_taken_ = 0;
  Clock::time_point held_until_{};
  std::uint64_t corrections_ = 0;
};

}  // namespace tracker::llm
