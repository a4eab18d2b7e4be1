#pragma once
// A circuit breaker for a remote API: after `failure_threshold` consecutive failures (the
// server erring or unreachable, not refusals such as 429 or 400) it opens, and nothing is sent
// for `cool_down`; then one probe goes, and its outcome closes the breaker or opens it again.
// The summarizer pauses consumption while it is open, so an outage costs a probe per cool-down
// instead of a request per job. Not thread-safe; explicit time.
#include <chrono>
#include <cstdint>
#include <string_view>

namespace tracker::llm {

struct BreakerOptions {
  int failure_threshold = 5;
  std::chrono::milliseconds cool_down{30'000};
};

enum class BreakerState { closed = 0, open = 1, half_open = 2 };
std::string_view to_string(BreakerState state) noexcept;

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit CircuitBreaker(BreakerOptions options) : options_(options) {}

  // May a request go now? In half-open state, true once: that request is the probe.
  bool allow(Clock::time_point now);
  // The outcome of a request that allow() let through.
  void success();
  void failure(Clock::time_point now);
  // A request that allow() let through ended without telling anything about the server's health
  // (cancelled, refused by a limit): a probe slot it held is freed.
  void neutral();

  [[nodiscard]] BreakerState state(Clock::time_point now) const;
  // When an open breaker lets a probe go.
  [[nodiscard]] Clock::time_point probe_at() const noexcept { return probe_at_; }
  [[nodiscard]] std::uint64_t times_opened() const noexcept { return opened_; }

 private:
  void open(Clock::time_point now);

  BreakerOptions options_;
  BreakerState state_ = BreakerState::closed;
  int consecutive_failures_ = 0;
  bool probe_in_flight_ = false;
  Clock::time_point probe_at_{};
  std::uint64_t opened_ = 0;
};

}  // namespace tracker::llm
