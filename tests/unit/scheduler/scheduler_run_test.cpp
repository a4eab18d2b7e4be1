// The scheduler's run loop with a database that refuses connections: failed ticks are retried
// (not ready meanwhile), and stop() ends the loop at once whatever the grace.
#include <gtest/gtest.h>

#include <chrono>

#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/kafka/producer.hpp>
#include <tracker/pg/pool.hpp>

#include <tracker/scheduler/scheduler.hpp>
#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

double failed_ticks(prometheus::Registry& registry) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "tracker_scheduler_ticks_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "outcome" && label.value == "failed") return metric.counter.value;
      }
    }
  }
  return 0;
}

}  // namespace

TEST(SchedulerRun, RetriesFailedTicksUntilStoppedAndAStopEndsItAtOnce) {
  asio::io_context io;
  // Nothing listens on port 1: each connection attempt is refused at once.
  tracker::pg::Pool pool(
      io.get_executor(),
      {.connect = {.conninfo = "postgresql://tracker@127.0.0.1:1/tracker", .connect_timeout = 1s},
       .acquire_timeout = 1s},
      tracker::log::null_logger());
  // Never sent to: no tick gets as far as publishing.
  tracker::kafka::Producer producer({.brokers = "127.0.0.1:1"}, tracker::log::null_logger());
  prometheus::Registry registry;
  tracker::scheduler::Scheduler scheduler(io.get_executor(), pool, producer, registry,
                                          tracker::log::null_logger(),
                                          {.tick_interval = 1h, .db_retry_max = 20ms});
  bool returned = false;
  bool result = false;
  std::chrono::steady_clock::duration stop_to_return{};
  tracker::testing::run(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(co_await asio::this_coro::executor, scheduler.run(),
                   [&](const std::exception_ptr&, bool ok) {
                     returned = true;
                     result = ok;
                   });
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (failed_ticks(registry) < 3 && std::chrono::steady_clock::now() < until) {
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    EXPECT_GE(failed_ticks(registry), 3.0) << "a failed tick is retried well before the next";
    EXPECT_FALSE(scheduler.ready());
    EXPECT_FALSE(returned);
    const auto stopped_at = std::chrono::steady_clock::now();
    scheduler.stop(1h);  // the grace is not waited for
    while (!returned && std::chrono::steady_clock::now() < until) {
      timer.expires_after(1ms);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    stop_to_return = std::chrono::steady_clock::now() - stopped_at;
  }());
  EXPECT_TRUE(returned);
  EXPECT_TRUE(result);
  EXPECT_LT(stop_to_return, 2s);
}
