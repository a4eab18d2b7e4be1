// Retries are at most a share of requests over a sliding window.
#include <gtest/gtest.h>

#include <tracker/llm/retry_budget.hpp>

using namespace std::chrono_literals;
using tracker::llm::RetryBudget;
using Clock = RetryBudget::Clock;

TEST(RetryBudget, AllowsTheMinimumWithNoTraffic) {
  const auto t0 = Clock::now();
  RetryBudget budget({.ratio = 0.2, .window = 60s, .min_retries = 3}, t0);
  EXPECT_TRUE(budget.try_retry(t0));
  EXPECT_TRUE(budget.try_retry(t0));
  EXPECT_TRUE(budget.try_retry(t0));
  EXPECT_FALSE(budget.try_retry(t0));
  EXPECT_EQ(budget.refused(), 1U);
}

TEST(RetryBudget, RetriesAreAtMostTheRatioOfRequests) {
  const auto t0 = Clock::now();
  RetryBudget budget({.ratio = 0.2, .window = 60s, .min_retries = 0}, t0);
  for (int i = 0; i < 100; ++i) budget.record_request(t0);
  int allowed = 0;
  while (budget.try_retry(t0)) ++allowed;
  EXPECT_EQ(allowed, 20);
}

TEST(RetryBudget, AnOutageCannotMultiplyTraffic) {
  // Every request fails and every failure asks for a retry: the retries stay at 20 %.
  const auto t0 = Clock::now();
  RetryBudget budget({.ratio = 0.2, .window = 10s, .min_retries = 0}, t0);
  std::uint64_t sent = 0;
  std::uint64_t retries = 0;
  for (int ms = 0; ms < 60'000; ms += 10) {
    const auto now = t0 + std::chrono::milliseconds{ms};
    budget.record_request(now);  // a fresh request
    ++sent;
    if (budget.try_retry(now)) {
      budget.record_request(now);
      ++sent;
      ++retries;
    }
  }
  EXPECT_LE(static_cast<double>(retries), 0.26 * static_cast<double>(sent - retries));
  EXPECT_GT(retries, 0U);
}

TEST(RetryBudget, OldTrafficLeavesTheWindow) {
  const auto t0 = Clock::now();
  RetryBudget budget({.ratio = 0.5, .window = 10s, .min_retries = 0}, t0);
  for (int i = 0; i < 10; ++i) budget.record_request(t0);
  EXPECT_EQ(budget.requests_in_window(t0 + 9s), 10U);
  EXPECT_EQ(budget.requests_in_window(t0 + 11s), 0U);
  EXPECT_FALSE(budget.try_retry(t0 + 11s));
}
