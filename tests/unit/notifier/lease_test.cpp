// The timing of a delivery's lease: how long it runs, when it must be renewed before a request,
// and how often a notifier looks again at a delivery another one holds.
#include <gtest/gtest.h>

#include <tracker/notifier/lease.hpp>

using namespace std::chrono_literals;
using tracker::notifier::Clock;
using tracker::notifier::LeasePolicy;

TEST(LeasePolicy, ALeaseOutlastsTheRequestTimeoutByTheMargin) {
  const LeasePolicy policy{.request_timeout = 10s, .margin = 5s};
  EXPECT_EQ(policy.duration(), 15s);
}

TEST(LeasePolicy, ARequestIsSentUnderTheLeaseOnlyWhileItCanFinishBeforeTheLeaseEnds) {
  const LeasePolicy policy{.request_timeout = 10s, .margin = 4s};
  const Clock::time_point taken{};
  EXPECT_TRUE(policy.covers_request(taken, taken));
  // Half the margin is kept for the outcome's write: 2 s of waiting for a token still fits.
  EXPECT_TRUE(policy.covers_request(taken, taken + 2s));
  EXPECT_FALSE(policy.covers_request(taken, taken + 2s + 1ms));
  EXPECT_FALSE(policy.covers_request(taken, taken + 20s));
}

TEST(LeasePolicy, LooksAgainAfterADoublingWaitUpToItsMaximum) {
  const LeasePolicy policy{.look_initial = 100ms, .look_max = 1s};
  EXPECT_EQ(policy.next_look(0, std::nullopt), 100ms);
  EXPECT_EQ(policy.next_look(1, std::nullopt), 200ms);
  EXPECT_EQ(policy.next_look(3, std::nullopt), 800ms);
  EXPECT_EQ(policy.next_look(4, std::nullopt), 1s);
  EXPECT_EQ(policy.next_look(1'000, std::nullopt), 1s);
}

TEST(LeasePolicy, LooksAgainJustAfterTheHoldersLeaseRunsOut) {
  const LeasePolicy policy{.look_initial = 100ms, .look_max = 2s};
  EXPECT_EQ(policy.next_look(5, 300ms), 320ms);
  EXPECT_EQ(policy.next_look(0, 300ms), 100ms);  // the backoff is shorter still
  // The database says the lease has already run out (its clock, not ours): look at once.
  EXPECT_EQ(policy.next_look(5, -50ms), 20ms);
}
