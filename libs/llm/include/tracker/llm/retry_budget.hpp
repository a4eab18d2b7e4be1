#pragma once
// A retry budget: over a sliding window, retries may be at most `ratio` of the requests sent
// (plus a small allowance so that a quiet client can still retry at all). When an API fails
// for everyone, each request is then retried at most that often in aggregate, and an outage
// cannot turn into a storm of retries (the failure mode of the old system's Slack client).
// Requests are counted in one-second buckets. Not thread-safe; explicit time.
#include <chrono>
#include <cstdint>
#include <vector>

namespace tracker::llm {

struct RetryBudgetOptions {
  double ratio = 0.2;
  std::chrono::seconds window{60};
  std::uint64_t min_retries = 10;  // retries allowed per window regardless of traffic
};

class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;

  RetryBudget(RetryBudgetOptions options, Clock::time_point now);

  // A request was sent (first attempts and retries alike).
  void record_request(Clock::time_point now);
  // Asks to retry once; true spends from the budget.
  bool try_retry(Clock::time_point now);

  [[nodiscard]] std::uint64_t requests_in_window(Clock::time_point now);
  [[nodiscard]] std::uint64_t retries_in_window(Clock::time_point now);
  [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; }

 private:
  struct Bucket {
    std::int64_t second = -1;
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
  };
  Bucket& bucket(Clock::time_point now);
  [[nodiscard]] std::int64_t second_of(Clock::time_point now) const;

  RetryBudgetOptions options_;
  Clock::time_point origin_;
  std::vector<Bucket> buckets_;
  std::uint64_t refused_ = 0;
};

}  // namespace tracker::llm
