// async::Event and async::WaitGroup on one io_context.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/event.hpp>

#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::async::Event;
using tracker::async::WaitGroup;
using tracker::testing::run;

namespace {

asio::awaitable<void> event_pause(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

TEST(Event, SetWakesEveryWaiterAndLaterWaitsReturnAtOnce) {
  asio::io_context io;
  Event event;
  int woken = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await event.wait();
          ++woken;
        },
        asio::detached);
  }
  run(io, [&]() -> asio::awaitable<void> {
    co_await event_pause(1ms);
    EXPECT_EQ(event.waiters(), 3U);
    EXPECT_EQ(woken, 0);
    event.set();
    co_await event_pause(1ms);
    EXPECT_EQ(woken, 3);
    EXPECT_TRUE(co_await event.wait_for(1h));  // set: no wait at all
  }());
  EXPECT_EQ(event.waiters(), 0U);
}

TEST(Event, AWaiterWokenBySetReturnsEvenIfResetBeforeItRuns) {
  asio::io_context io;
  Event event;
  bool woken = false;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { woken = co_await event.wait_for(1h); }, asio::detached);
  run(io, [&]() -> asio::awaitable<void> {
    co_await event_pause(1ms);
    event.set();
    event.reset();
    co_await event_pause(1ms);
    EXPECT_TRUE(woken);
    EXPECT_FALSE(event.is_set());
  }());
}

TEST(Event, NotifyAllWakesCurrentWaitersWithoutSetting) {
  asio::io_context io;
  Event event;
  run(io, [&]() -> asio::awaitable<void> {
    bool woken = false;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> { woken = co_await event.wait_for(1h); }, asio::detached);
    co_await event_pause(1ms);
    event.notify_all();
    co_await event_pause(1ms);
    EXPECT_TRUE(woken);
    EXPECT_FALSE(event.is_set());
    // Not set: a new wait waits for its deadline.
    EXPECT_FALSE(co_await event.wait_for(5ms));
  }());
}

TEST(Event, WaitUntilReturnsFalseAtItsDeadline) {
  asio::io_context io;
  Event event;
  const auto started = std::chrono::steady_clock::now();
  const bool woken = run(io, event.wait_until(started + 20ms));
  EXPECT_FALSE(woken);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 20ms);
}

TEST(WaitGroup, WaitReturnsOnceAtMostTheGivenNumberAreLeft) {
  asio::io_context io;
  WaitGroup group;
  group.add(3);
  std::vector<std::size_t> seen;
  run(io, [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    for (int i = 1; i <= 3; ++i) {
      asio::co_spawn(
          executor,
          [&, i]() -> asio::awaitable<void> {
            co_await event_pause(std::chrono::milliseconds{2 * i});
            group.done();
          },
          asio::detached);
    }
    co_await group.wait(2);
    seen.push_back(group.count());
    co_await group.wait();
    seen.push_back(group.count());
  }());
  EXPECT_EQ(seen, (std::vector<std::size_t>{2, 0}));
}

TEST(WaitGroup, WaitWithNothingInProgressReturnsAtOnce) {
  asio::io_context io;
  WaitGroup group;
  const auto started = std::chrono::steady_clock::now();
  run(io, group.wait());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  group.done();  // more done() than add(): stays at zero
  EXPECT_EQ(group.count(), 0U);
}
