// async::retry and async::Backoff: the bounds (attempts, time, abandon), refusals, and the hooks.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/result.hpp>

#include <tracker/async/retry.hpp>

#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::async::Backoff;
using tracker::async::GracefulStop;
using tracker::async::kUnlimitedAttempts;
using tracker::async::kUnlimitedTime;
using tracker::async::Outcome;
using tracker::async::RetryHooks;
using tracker::async::RetryPolicy;
using tracker::testing::run;

namespace {

// Fails with "down" `failures` times, then answers its call count; "bad" when told to refuse.
struct FlakyOperation {
  int failures = 0;
  bool refuse = false;
  int calls = 0;
  asio::awaitable<boost::system::result<int, std::string>> operator()() {
    ++calls;
    if (refuse)
      co_return boost::system::result<int, std::string>(boost::system::in_place_error, "bad");
    if (calls <= failures) {
      co_return boost::system::result<int, std::string>(boost::system::in_place_error, "down");
    }
    co_return calls;
  }
};

struct Journal {
  std::vector<std::string> events;
  RetryHooks<std::string> hooks() {
    return {.failed =
                [this](const std::string& error, int attempt, std::chrono::milliseconds retry_in) {
                  events.push_back("failed " + error + " " + std::to_string(attempt) + " " +
                                   std::to_string(retry_in.count()));
                },
            .outage_began = [this](const std::string&) { events.emplace_back("began"); },
            .outage_ended = [this] { events.emplace_back("ended"); }};
  }
};

const RetryPolicy kFast{.initial = 1ms, .max_delay = 4ms, .max_attempts = 10, .max_elapsed = 10s};

}  // namespace

TEST(Backoff, DoublesUpToTheCap) {
  Backoff backoff({.initial = 100ms, .max_delay = 500ms, .multiplier = 2.0});
  std::vector<long> delays;
  for (int i = 0; i < 5; ++i) delays.push_back(backoff.next().count());
  EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 500, 500}));
  backoff.reset();
  EXPECT_EQ(backoff.next(), 100ms);
}

TEST(Backoff, JitterStaysWithinItsShareBelowTheDelay) {
  Backoff backoff({.initial = 1'000ms, .max_delay = 1'000ms, .jitter = 0.5}, 42);
  for (int i = 0; i < 100; ++i) {
    const auto delay = backoff.next();
    EXPECT_GE(delay, 500ms);
    EXPECT_LE(delay, 1'000ms);
  }
}

TEST(Retry, SucceedsAfterFailuresWithOneOutageAroundThem) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  FlakyOperation op{.failures = 2};
  Journal journal;
  const auto hooks = journal.hooks();
  auto result = run(io, tracker::async::retry(stop, kFast, hooks, std::ref(op)));
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 3);
  EXPECT_EQ(journal.events,
            (std::vector<std::string>{"began", "failed down 1 1", "failed down 2 2", "ended"}));
}

TEST(Retry, SuccessAtOnceCallsNoHook) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  FlakyOperation op;
  Journal journal;
  const auto hooks = journal.hooks();
  auto result = run(io, tracker::async::retry(stop, kFast, hooks, std::ref(op)));
  ASSERT_TRUE(result);
  EXPECT_TRUE(journal.events.empty());
}

TEST(Retry, ARefusedFailureIsNotRetried) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  FlakyOperation op{.refuse = true};
  Journal journal;
  const auto hooks = journal.hooks();
  auto retryable = [](const std::string& error) { return error != "bad"; };
  auto result = run(io, tracker::async::retry(stop, kFast, hooks, std::ref(op), retryable));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().outcome, Outcome::refused);
  EXPECT_EQ(result.error().error, "bad");
  EXPECT_EQ(result.error().attempts, 1);
  EXPECT_EQ(op.calls, 1);
  EXPECT_TRUE(journal.events.empty());
}

TEST(Retry, StopsAtMaxAttemptsAndEndsTheOutage) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  FlakyOperation op{.failures = 100};
  Journal journal;
  const auto hooks = journal.hooks();
  const RetryPolicy policy{.initial = 1ms, .max_delay = 1ms, .max_attempts = 3, .max_elapsed = 10s};
  auto result = run(io, tracker::async::retry(stop, policy, hooks, std::ref(op)));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().outcome, Outcome::exhausted);
  EXPECT_EQ(result.error().attempts, 3);
  EXPECT_EQ(op.calls, 3);
  EXPECT_EQ(journal.events,
            (std::vector<std::string>{"began", "failed down 1 1", "failed down 2 1", "ended"}));
}

TEST(Retry, StartsNoRetryPastMaxElapsed) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  FlakyOperation op{.failures = 1'000};
  const RetryHooks<std::string> hooks;
  const RetryPolicy policy{
      .initial = 10ms, .max_delay = 10ms, .max_attempts = kUnlimitedAttempts, .max_elapsed = 35ms};
  const auto started = std::chrono::steady_clock::now();
  auto result = run(io, tracker::async::retry(stop, policy, hooks, std::ref(op)));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().outcome, Outcome::exhausted);
  EXPECT_LE(std::chrono::steady_clock::now() - started, 35ms + 20ms);
  EXPECT_GE(op.calls, 2);
  EXPECT_LE(op.calls, 4);
}

TEST(Retry, UnlimitedRetriesEndWhenTheStopIsAbandoned) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  FlakyOperation op{.failures = 1'000'000};
  Journal journal;
  const auto hooks = journal.hooks();
  const RetryPolicy policy{.initial = 1h,
                           .max_delay = 1h,
                           .max_attempts = kUnlimitedAttempts,
                           .max_elapsed = kUnlimitedTime};
  stop.request(20ms);  // a requested stop alone does not end the retries: the grace does
  const auto started = std::chrono::steady_clock::now();
  auto result = run(io, tracker::async::retry(stop, policy, hooks, std::ref(op)));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().outcome, Outcome::abandoned);
  EXPECT_EQ(op.calls, 1);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 20ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30min);
  EXPECT_EQ(journal.events.back(), "ended");
}

TEST(Retry, AlreadyAbandonedTriesOnceAndReportsAbandoned) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  stop.abandon();
  FlakyOperation op{.failures = 5};
  const RetryHooks<std::string> hooks;
  auto result = run(io, tracker::async::retry(stop, kFast, hooks, std::ref(op)));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().outcome, Outcome::abandoned);
  EXPECT_EQ(op.calls, 1);
}

TEST(Retry, WorksForOperationsWithoutAValue) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  int calls = 0;
  auto op = [&calls]() -> asio::awaitable<boost::system::result<void>> {
    if (++calls < 2)
      co_return boost::system::error_code(boost::system::errc::io_error,
                                          boost::system::generic_category());
    co_return boost::system::result<void>{};
  };
  const RetryHooks<boost::system::error_code> hooks;
  auto result = run(io, tracker::async::retry(stop, kFast, hooks, op));
  EXPECT_TRUE(result);
  EXPECT_EQ(calls, 2);
}

TEST(Retry, HoldingKeepsTheGateHeldForTheOutageOnly) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  std::vector<std::string> calls;
  tracker::async::PauseGate gate([&calls] { calls.emplace_back("pause"); },
                                 [&calls] { calls.emplace_back("resume"); });
  FlakyOperation op{.failures = 2};
  int failed = 0;
  const auto hooks = tracker::async::holding<std::string>(
      gate, "database", [&](const std::string&, int, std::chrono::milliseconds) {
        EXPECT_TRUE(gate.holds("database")) << "held before the first failure is reported";
        ++failed;
      });
  auto result = run(io, tracker::async::retry(stop, kFast, hooks, std::ref(op)));
  ASSERT_TRUE(result);
  EXPECT_EQ(failed, 2);
  EXPECT_FALSE(gate.held());
  EXPECT_EQ(calls, (std::vector<std::string>{"pause", "resume"}));
}

TEST(Retry, AnOperationThatThrowsStillEndsTheOutage) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  tracker::async::PauseGate gate({}, {});
  int calls = 0;
  const auto hooks = tracker::async::holding<std::string>(gate, "database");
  auto op = [&calls]() -> asio::awaitable<boost::system::result<int, std::string>> {
    if (++calls == 1) {
      co_return boost::system::result<int, std::string>(boost::system::in_place_error, "down");
    }
    throw std::runtime_error("a bug in the operation");
  };
  EXPECT_THROW(run(io, tracker::async::retry(stop, kFast, hooks, op)), std::runtime_error);
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(gate.held()) << "the outage's hold is released when the loop ends by a throw";
}
