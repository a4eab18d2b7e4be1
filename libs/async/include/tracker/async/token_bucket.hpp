#pragma once
// A token bucket on an explicit clock (tests drive time): `rate` tokens a second up to `burst`.
// For client-side rate limits (requests or tokens per minute) and for the simulators' limits.
// Not thread-safe: one owner.
#include <algorithm>
#include <chrono>

namespace tracker::async {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate_per_second 0: unlimited.
  TokenBucket(double rate_per_second, double burst, Clock::time_point now)
      : rate_(std::max(0.0, rate_per_second)),
        burst_(std::max(1.0, burst)),
        tokens_(burst_),
        at_(now) {}

  // How long until `amount` tokens are there (zero: now). An amount above the burst waits for
  // the whole burst.
  [[nodiscard]] Clock::duration wait(Clock::time_point now, double amount = 1.0) const {
    const double tokens = tokens_at(now);
    const double wanted = std::min(amount, burst_);
    if (tokens >= wanted) return Clock::duration::zero();
    const double seconds = (wanted - tokens) / rate_;
    // Rounded up a microsecond, so that waiting exactly this long always suffices.
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)) +
           std::chrono::microseconds{1};
  }
  // Takes `amount` tokens; the balance may go below zero (a debt later takes paid back).
  void take(Clock::time_point now, double amount = 1.0) {
    if (rate_ <= 0) return;
    tokens_ = tokens_at(now) - amount;
    at_ = now;
  }
  // Sets the balance (a server reported how much is left).
  void set_tokens(Clock::time_point now, double tokens) {
    tokens_ = std::min(burst_, tokens);
    at_ = now;
  }
  [[nodiscard]] bool full(Clock::time_point now) const { return tokens_at(now) >= burst_; }
  [[nodiscard]] double tokens(Clock::time_point now) const { return tokens_at(now); }

 private:
  [[nodiscard]] double tokens_at(Clock::time_point now) const {
    if (rate_ <= 0) return burst_;
    const double elapsed = std::chrono::duration<double>(now - at_).count();
    return std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
  }

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point at_;
};

}  // namespace tracker::async
