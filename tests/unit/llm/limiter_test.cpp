// The client-side RPM/TPM limiter and its corrections from the server's headers.
#include <gtest/gtest.h>

#include <tracker/llm/limiter.hpp>

using namespace std::chrono_literals;
using tracker::llm::LimiterOptions;
using tracker::llm::RateLimiter;
using tracker::llm::RateLimitHeaders;
using Clock = RateLimiter::Clock;

namespace {
double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
}  // namespace

TEST(RateLimiter, PacesRequestsAtTheConfiguredRateLessHeadroom) {
  const auto t0 = Clock::now();
  // 600 RPM = 10/s; 0 headroom; a burst of 1 second's worth.
  RateLimiter limiter({.requests_per_minute = 600, .headroom = 0, .burst_seconds = 1}, t0);
  int sent = 0;
  auto now = t0;
  while (now < t0 + 10s) {
    const auto wait = limiter.wait(now, 1);
    if (wait > Clock::duration::zero()) {
      now += wait;
      continue;
    }
    limiter.take(now, 1);
    ++sent;
  }
  // 10 at once, then 10 a second for 10 seconds.
  EXPECT_NEAR(sent, 110, 2);
}

TEST(RateLimiter, HeadroomLeavesAShareOfTheRateUnused) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 6000, .headroom = 0.1, .burst_seconds = 0.01}, t0);
  int sent = 0;
  auto now = t0;
  while (now < t0 + 60s) {
    const auto wait = limiter.wait(now, 1);
    if (wait > Clock::duration::zero()) {
      now += wait;
      continue;
    }
    limiter.take(now, 1);
    ++sent;
  }
  EXPECT_NEAR(sent, 5400, 10);
}

TEST(RateLimiter, TokensLimitHoldsLargeRequests) {
  const auto t0 = Clock::now();
  // 60,000 TPM = 1,000 tokens/s; burst 10 s = 10,000 tokens.
  RateLimiter limiter(
      {.requests_per_minute = 0, .tokens_per_minute = 60'000, .headroom = 0, .burst_seconds = 10},
      t0);
  limiter.take(t0, 10'000);
  EXPECT_NEAR(seconds(limiter.wait(t0, 2'000)), 2.0, 0.01);
  EXPECT_EQ(limiter.wait(t0 + 2s, 2'000), Clock::duration::zero());
}

TEST(RateLimiter, ServerRemainingLowersOurs) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 600, .headroom = 0}, t0);
  const auto ticket = limiter.take(t0, 1);
  // The server says only 2 requests are left (another client shares the key); answered at once.
  RateLimitHeaders headers;
  headers.remaining_requests = 2;
  limiter.observe(t0, headers, ticket);
  EXPECT_NEAR(limiter.requests_available(t0), 2.0, 1e-6);
  EXPECT_EQ(limiter.corrections(), 1U);
}

TEST(RateLimiter, CorrectionCountsWhatWasSentSinceAndWhatRefilled) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 600, .headroom = 0, .burst_seconds = 10}, t0);
  const auto first = limiter.take(t0, 1);
  for (int i = 0; i < 4; ++i) limiter.take(t0, 1);  // 4 more sent before the answer came
  // Answer after 1 s: the server had 50 left when it admitted the first request; it refilled
  // 10 since, and the 4 later requests were not counted yet: 56.
  RateLimitHeaders headers;
  headers.remaining_requests = 50;
  limiter.observe(t0 + 1s, headers, first);
  EXPECT_NEAR(limiter.requests_available(t0 + 1s), 56.0, 1e-6);
}

TEST(RateLimiter, ServerRemainingNeverRaisesOurs) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 600, .headroom = 0, .burst_seconds = 1}, t0);
  for (int i = 0; i < 10; ++i) limiter.take(t0, 1);
  const auto ticket = limiter.take(t0, 1);
  RateLimitHeaders headers;
  headers.remaining_requests = 5'000;
  limiter.observe(t0, headers, ticket);
  EXPECT_LT(limiter.requests_available(t0), 0.0);
  EXPECT_EQ(limiter.corrections(), 0U);
}

TEST(RateLimiter, ALowerLimitHeaderLowersTheRate) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 10'000, .headroom = 0}, t0);
  const auto ticket = limiter.take(t0, 1);
  RateLimitHeaders headers;
  headers.limit_requests = 3'000;
  limiter.observe(t0, headers, ticket);
  EXPECT_EQ(limiter.requests_per_minute(), 3'000);
}

TEST(RateLimiter, TheFirstLimitHeaderSetsAnUnconfiguredLimit) {
  const auto t0 = Clock::now();
  RateLimiter limiter({}, t0);
  EXPECT_EQ(limiter.wait(t0, 1'000'000), Clock::duration::zero());
  const auto ticket = limiter.take(t0, 1);
  RateLimitHeaders headers;
  headers.limit_requests = 60;
  headers.remaining_requests = 0;
  limiter.observe(t0, headers, ticket);
  EXPECT_EQ(limiter.requests_per_minute(), 60);
  EXPECT_GT(limiter.wait(t0, 1), 500ms);
}

TEST(RateLimiter, ResetWithoutRemainingStillCorrects) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 600, .headroom = 0, .burst_seconds = 60}, t0);
  const auto ticket = limiter.take(t0, 1);
  RateLimitHeaders headers;
  headers.limit_requests = 600;
  headers.reset_requests = 30s;  // half the minute to refill: 300 missing
  limiter.observe(t0, headers, ticket);
  EXPECT_NEAR(limiter.requests_available(t0), 300.0, 1e-6);
}

TEST(RateLimiter, HoldClosesTheLimiterForRetryAfter) {
  const auto t0 = Clock::now();
  RateLimiter limiter({.requests_per_minute = 600}, t0);
  limiter.hold(t0, 1500ms);
  EXPECT_NEAR(seconds(limiter.wait(t0, 1)), 1.5, 1e-6);
  EXPECT_EQ(limiter.wait(t0 + 1500ms, 1), Clock::duration::zero());
}
