// async::GracefulStop: a stop request, then abandon after the grace; sleeps that wake at once.
#include <gtest/gtest.h>

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>

#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::async::GracefulStop;
using tracker::testing::run;
using Clock = std::chrono::steady_clock;

namespace {

asio::awaitable<void> stop_pause(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

TEST(GracefulStop, SleepRunsItsWholeDurationWhenNothingHappens) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  const auto started = Clock::now();
  EXPECT_TRUE(run(io, stop.sleep(10ms)));
  EXPECT_GE(Clock::now() - started, 10ms);
  EXPECT_FALSE(stop.requested());
}

TEST(GracefulStop, ARequestWakesSleepAtOnceButNotSleepInGrace) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  bool slept_whole = true;
  bool grace_sleep_whole = false;
  Clock::time_point sleep_ended{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        slept_whole = co_await stop.sleep(1h);
        sleep_ended = Clock::now();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> { grace_sleep_whole = co_await stop.sleep_in_grace(30ms); },
      asio::detached);
  run(io, [&]() -> asio::awaitable<void> {
    co_await stop_pause(2ms);
    const auto requested_at = Clock::now();
    stop.request(1h);
    co_await stop_pause(50ms);
    EXPECT_FALSE(slept_whole);
    EXPECT_LT(sleep_ended - requested_at, 20ms);
    EXPECT_TRUE(grace_sleep_whole);
    EXPECT_TRUE(stop.requested());
    EXPECT_FALSE(stop.abandoned());
    EXPECT_FALSE(co_await stop.sleep(1h));  // requested already: returns at once
  }());
}

TEST(GracefulStop, AbandonsWhenTheGraceEndsAndWakesSleepInGrace) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  const auto started = Clock::now();
  bool whole = true;
  run(io, [&]() -> asio::awaitable<void> {
    stop.request(20ms);
    whole = co_await stop.sleep_in_grace(1h);
  }());
  EXPECT_FALSE(whole);
  EXPECT_TRUE(stop.abandoned());
  EXPECT_GE(Clock::now() - started, 20ms);
  EXPECT_LT(Clock::now() - started, 30min);
}

TEST(GracefulStop, OnlyTheFirstRequestSetsTheGrace) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  stop.request(1h);
  stop.request(0ms);
  EXPECT_FALSE(stop.abandoned());
  stop.abandon();
  EXPECT_TRUE(stop.abandoned());
}

TEST(GracefulStop, AZeroGraceAbandonsAtOnce) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  stop.request(0ms);
  EXPECT_TRUE(stop.requested());
  EXPECT_TRUE(stop.abandoned());
  EXPECT_FALSE(run(io, stop.sleep_in_grace(1h)));
}

TEST(GracefulStop, FinishLetsTheIoContextRunOutBeforeTheGrace) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  stop.request(1h);
  stop.finish();
  const auto started = Clock::now();
  io.run_for(10s);  // returns as soon as nothing is left to do
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_FALSE(stop.abandoned());
}

TEST(GracefulStop, WaitAbandonedReturnsWhenAbandoned) {
  asio::io_context io;
  GracefulStop stop(io.get_executor());
  bool abandoned_seen = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await stop.wait_abandoned();
        abandoned_seen = stop.abandoned();
      },
      asio::detached);
  run(io, [&]() -> asio::awaitable<void> {
    co_await stop_pause(1ms);
    EXPECT_FALSE(abandoned_seen);
    stop.request(5ms);
    co_await stop.wait_requested();
    co_await stop_pause(30ms);
    EXPECT_TRUE(abandoned_seen);
  }());
}
