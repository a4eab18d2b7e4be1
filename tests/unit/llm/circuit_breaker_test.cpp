// The circuit breaker: open after consecutive failures, one probe after the cool-down.
#include <gtest/gtest.h>

#include <tracker/llm/circuit_breaker.hpp>

using namespace std::chrono_literals;
using tracker::llm::BreakerState;
using tracker::llm::CircuitBreaker;
using Clock = CircuitBreaker::Clock;

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  const auto t0 = Clock::now();
  CircuitBreaker breaker({.failure_threshold = 3, .cool_down = 10s});
  breaker.failure(t0);
  breaker.failure(t0);
  breaker.success();  // the run is broken
  breaker.failure(t0);
  breaker.failure(t0);
  EXPECT_EQ(breaker.state(t0), BreakerState::closed);
  breaker.failure(t0);
  EXPECT_EQ(breaker.state(t0), BreakerState::open);
  EXPECT_FALSE(breaker.allow(t0 + 9s));
  EXPECT_EQ(breaker.times_opened(), 1U);
}

TEST(CircuitBreaker, LetsOneProbeThroughAfterTheCoolDown) {
  const auto t0 = Clock::now();
  CircuitBreaker breaker({.failure_threshold = 1, .cool_down = 10s});
  breaker.failure(t0);
  EXPECT_EQ(breaker.state(t0 + 10s), BreakerState::half_open);
  EXPECT_TRUE(breaker.allow(t0 + 10s));   // the probe
  EXPECT_FALSE(breaker.allow(t0 + 10s));  // nobody else meanwhile
  breaker.success();
  EXPECT_EQ(breaker.state(t0 + 10s), BreakerState::closed);
  EXPECT_TRUE(breaker.allow(t0 + 10s));
}

TEST(CircuitBreaker, AFailedProbeOpensAgainForAnotherCoolDown) {
  const auto t0 = Clock::now();
  CircuitBreaker breaker({.failure_threshold = 1, .cool_down = 10s});
  breaker.failure(t0);
  ASSERT_TRUE(breaker.allow(t0 + 10s));
  breaker.failure(t0 + 10s);
  EXPECT_EQ(breaker.state(t0 + 15s), BreakerState::open);
  EXPECT_FALSE(breaker.allow(t0 + 19s));
  EXPECT_TRUE(breaker.allow(t0 + 20s));
  EXPECT_EQ(breaker.times_opened(), 2U);
}

TEST(CircuitBreaker, ANeutralProbeFreesTheSlot) {
  const auto t0 = Clock::now();
  CircuitBreaker breaker({.failure_threshold = 1, .cool_down = 1s});
  breaker.failure(t0);
  ASSERT_TRUE(breaker.allow(t0 + 1s));
  breaker.neutral();  // e.g. refused by the rate limiter before it went out
  EXPECT_TRUE(breaker.allow(t0 + 1s));
}
