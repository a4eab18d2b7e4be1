#include "tracker/llm/retry_budget.hpp"

#include <algorithm>
#include <cmath>

namespace tracker::llm {

RetryBudget::RetryBudget(RetryBudgetOptions options, Clock::time_point now)
    : options_(options),
      origin_(now),
      buckets_(static_cast<std::size_t>(std::max<std::int64_t>(1, options.window.count()))) {}

std::int64_t RetryBudget::second_of(Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::seconds>(now - origin_).count();
}

RetryBudget::Bucket& RetryBudget::bucket(Clock::time_point now) {
  const std::int64_t second = std::max<std::int64_t>(0, second_of(now));
  Bucket& b = buckets_[static_cast<std::size_t>(second) % buckets_.size()];
  if (b.second != second) b = Bucket{.second = second};
  return b;
}

std::uint64_t RetryBudget::requests_in_window(Clock::time_point now) {
  const std::int64_t second = second_of(now);
  std::uint64_t total = 0;
  for (const Bucket& b : buckets_) {
    if (b.second >= 0 && second - b.second < static_cast<std::int64_t>(buckets_.size())) {
      total += b.requests;
    }
  }
  return total;
}

std::uint64_t RetryBudget::retries_in_window(Clock::time_point now) {
  const std::int64_t second = second_of(now);
  std::uint64_t total = 0;
  for (const Bucket& b : buckets_) {
    if (b.second >= 0 && second - b.second < static_cast<std::int64_t>(buckets_.size())) {
      total += b.retries;
    }
  }
  return total;
}

void RetryBudget::record_request(Clock::time_point now) {
  ++bucket(now).requests;
}

bool RetryBudget::try_retry(Clock::time_point now) {
  const double allowed =
      std::max(static_cast<double>(options_.min_retries),
               std::floor(options_.ratio * static_cast<double>(requests_in_window(now))));
  if (static_cast<double>(retries_in_window(now)) + 1.0 > allowed) {
    ++refused_;
    return false;
  }
  ++bucket(now).retries;
  return true;
}

}  // namespace tracker::llm
