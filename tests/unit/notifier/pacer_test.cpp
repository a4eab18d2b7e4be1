// Pacing of chat.postMessage: per-channel and workspace token buckets and Retry-After, on a
// clock the test drives.
#include <gtest/gtest.h>

#include "pacer.hpp"

using namespace std::chrono_literals;
using tracker::notifier::Clock;
using tracker::notifier::PaceLimit;
using tracker::notifier::Pacer;
using tracker::notifier::TokenBucket;

TEST(TokenBucket, AllowsTheBurstThenTheRate) {
  const Clock::time_point t0{};
  TokenBucket bucket(1.0, 3, t0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bucket.wait(t0), Clock::duration::zero());
    bucket.take(t0);
  }
  EXPECT_GT(bucket.wait(t0), 999ms);
  EXPECT_LE(bucket.wait(t0), 1001ms);
  EXPECT_LE(bucket.wait(t0 + 500ms), 501ms);
  EXPECT_EQ(bucket.wait(t0 + 1s), Clock::duration::zero());
  EXPECT_FALSE(bucket.full(t0 + 2s));
  EXPECT_TRUE(bucket.full(t0 + 3s));
}

TEST(Pacer, OneChannelIsHeldToItsRateWhileOthersGoOn) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 1,
               .channel_burst = 2,
               .workspace_per_minute = 6000,
               .workspace_burst = 100,
               .headroom = 0},
              t0);
  pacer.take("C1", t0);
  pacer.take("C1", t0);
  const auto held = pacer.check("C1", t0);
  EXPECT_EQ(held.limit, PaceLimit::channel);
  EXPECT_GT(held.wait, 900ms);
  const auto other = pacer.check("C2", t0);
  EXPECT_EQ(other.wait, Clock::duration::zero());
}

TEST(Pacer, TheWorkspaceRateIsShared) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 100,
               .channel_burst = 10,
               .workspace_per_minute = 60,
               .workspace_burst = 3,
               .headroom = 0},
              t0);
  pacer.take("C1", t0);
  pacer.take("C2", t0);
  pacer.take("C3", t0);
  const auto held = pacer.check("C4", t0);
  EXPECT_EQ(held.limit, PaceLimit::workspace);
  EXPECT_GT(held.wait, 900ms);
  EXPECT_EQ(pacer.check("C4", t0 + 1s).wait, Clock::duration::zero());
}

TEST(Pacer, RetryAfterClosesEveryChannel) {
  const Clock::time_point t0{};
  Pacer pacer({}, t0);
  pacer.close_until(t0 + 30s);
  pacer.close_until(t0 + 5s);  // an earlier end does not reopen it
  for (const char* channel : {"C1", "C2", "D9"}) {
    const auto held = pacer.check(channel, t0 + 1s);
    EXPECT_EQ(held.limit, PaceLimit::retry_after);
    EXPECT_EQ(held.wait, 29s);
  }
  EXPECT_EQ(pacer.check("C1", t0 + 30s).wait, Clock::duration::zero());
}

TEST(Pacer, ForgetsChannelsOnceTheirBucketsRefill) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 1, .channel_burst = 3}, t0);
  for (int i = 0; i < 100; ++i) pacer.take("C" + std::to_string(i), t0);
  EXPECT_EQ(pacer.tracked_channels(), 100U);
  pacer.take("C0", t0 + 20s);  // the sweep runs at most every 10 s
  EXPECT_EQ(pacer.tracked_channels(), 1U);
}

TEST(Pacer, LeavesTheHeadroomOfEachRateUnused) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 1,
               .channel_burst = 1,
               .workspace_per_minute = 6000,
               .workspace_burst = 1,
               .headroom = 0.2},
              t0);
  pacer.take("C1", t0);
  // 80 % of one per second: the next token after 1.25 s, not 1 s.
  EXPECT_GT(pacer.check("C1", t0 + 1s).wait, 200ms);
  EXPECT_EQ(pacer.check("C1", t0 + 1250ms + 1ms).wait, Clock::duration::zero());
}
