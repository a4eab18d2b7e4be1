// Pacing of chat.postMessage: per-channel and per-workspace token buckets and Retry-After, on a
// clock the test drives.
#include <gtest/gtest.h>

#include <tracker/notifier/pacer.hpp>

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
  pacer.take("T1", "C1", t0);
  pacer.take("T1", "C1", t0);
  const auto held = pacer.check("T1", "C1", t0);
  EXPECT_EQ(held.limit, PaceLimit::channel);
  EXPECT_GT(held.wait, 900ms);
  const auto other = pacer.check("T1", "C2", t0);
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
  pacer.take("T1", "C1", t0);
  pacer.take("T1", "C2", t0);
  pacer.take("T1", "C3", t0);
  const auto held = pacer.check("T1", "C4", t0);
  EXPECT_EQ(held.limit, PaceLimit::workspace);
  EXPECT_GT(held.wait, 900ms);
  EXPECT_EQ(pacer.check("T1", "C4", t0 + 1s).wait, Clock::duration::zero());
}

TEST(Pacer, RetryAfterClosesEveryChannelOfItsWorkspace) {
  const Clock::time_point t0{};
  Pacer pacer({}, t0);
  pacer.close_until("T1", t0 + 30s);
  pacer.close_until("T1", t0 + 5s);  // an earlier end does not reopen it
  for (const char* channel : {"C1", "C2", "D9"}) {
    const auto held = pacer.check("T1", channel, t0 + 1s);
    EXPECT_EQ(held.limit, PaceLimit::retry_after);
    EXPECT_EQ(held.wait, 29s);
  }
  EXPECT_EQ(pacer.check("T1", "C1", t0 + 30s).wait, Clock::duration::zero());
  EXPECT_EQ(pacer.closed_workspaces(t0 + 1s), 1U);
  EXPECT_EQ(pacer.closed_workspaces(t0 + 30s), 0U);
}

TEST(Pacer, EachWorkspaceHasItsOwnRateAndItsOwnRetryAfter) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 100,
               .channel_burst = 10,
               .workspace_per_minute = 60,
               .workspace_burst = 2,
               .headroom = 0},
              t0);
  pacer.take("T1", "C1", t0);
  pacer.take("T1", "C2", t0);
  EXPECT_EQ(pacer.check("T1", "C3", t0).limit, PaceLimit::workspace);
  // Another workspace's posts spend nothing of T1's rate, nor T1's of theirs.
  for (const char* channel : {"C1", "C2"}) {
    EXPECT_EQ(pacer.check("T2", channel, t0).wait, Clock::duration::zero());
    pacer.take("T2", channel, t0);
  }
  EXPECT_EQ(pacer.check("T2", "C3", t0).limit, PaceLimit::workspace);
  EXPECT_EQ(pacer.check("T3", "C3", t0).wait, Clock::duration::zero());
  // A 429 in T2 closes T2 only.
  pacer.close_until("T2", t0 + 10s);
  EXPECT_EQ(pacer.check("T2", "C9", t0 + 2s).limit, PaceLimit::retry_after);
  EXPECT_EQ(pacer.check("T1", "C9", t0 + 2s).wait, Clock::duration::zero());
  EXPECT_EQ(pacer.check("T3", "C9", t0 + 2s).wait, Clock::duration::zero());
  EXPECT_EQ(pacer.closed_workspaces(t0 + 2s), 1U);
  // The same channel id in two workspaces (a user id for a DM) has two buckets.
  Pacer channels({.channel_per_second = 1, .channel_burst = 1, .workspace_per_minute = 6000}, t0);
  channels.take("T1", "U1", t0);
  EXPECT_EQ(channels.check("T1", "U1", t0).limit, PaceLimit::channel);
  EXPECT_EQ(channels.check("T2", "U1", t0).wait, Clock::duration::zero());
}

TEST(Pacer, ForgetsChannelsAndWorkspacesOnceTheirBucketsRefill) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 1, .channel_burst = 3}, t0);
  for (int i = 0; i < 100; ++i) {
    pacer.take("T" + std::to_string(i % 4), "C" + std::to_string(i), t0);
  }
  EXPECT_EQ(pacer.tracked_channels(), 100U);
  EXPECT_EQ(pacer.tracked_workspaces(), 4U);
  pacer.take("T1", "C0", t0 + 20s);  // the sweep runs at most every 10 s
  EXPECT_EQ(pacer.tracked_channels(), 1U);
  EXPECT_EQ(pacer.tracked_workspaces(), 1U);
}

TEST(Pacer, LeavesTheHeadroomOfEachRateUnused) {
  const Clock::time_point t0{};
  Pacer pacer({.channel_per_second = 1,
               .channel_burst = 1,
               .workspace_per_minute = 6000,
               .workspace_burst = 1,
               .headroom = 0.2},
              t0);
  pacer.take("T1", "C1", t0);
  // 80 % of one per second: the next token after 1.25 s, not 1 s.
  EXPECT_GT(pacer.check("T1", "C1", t0 + 1s).wait, 200ms);
  EXPECT_EQ(pacer.check("T1", "C1", t0 + 1250ms + 1ms).wait, Clock::duration::zero());
}
