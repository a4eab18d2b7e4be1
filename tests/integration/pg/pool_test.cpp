#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/pg/pool.hpp>
#include <tracker/pg/transaction.hpp>

#include "pg_schema.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::pg::Connection;
using tracker::pg::Error;
using tracker::pg::Params;
using tracker::pg::Pool;
using tracker::pg::Result;
using tracker::testing::run;
using tracker::testing::ScratchSchema;
using tracker::testing::test_database_url;

namespace {

struct PgPool : ::testing::Test {
  asio::io_context io;
  ScratchSchema schema;

  tracker::pg::PoolOptions options(std::size_t size, std::chrono::milliseconds acquire = 10s) {
    return {.connect = {.conninfo = test_database_url(), .search_path = schema.name()},
            .max_connections = size,
            .acquire_timeout = acquire};
  }
  void setup(const std::string& sql) {
    ScratchSchema::exec("SET search_path TO " + schema.name() + "; " + sql);
  }
  std::string scalar(const std::string& sql) {
    return ScratchSchema::exec("SET search_path TO " + schema.name() + "; " + sql);
  }
};

const tracker::pg::Statement kInsert{"insert_log", "INSERT INTO logs (who, n) VALUES ($1, $2)"};
const tracker::pg::Statement kBump{"bump", "UPDATE counters SET n = n + 1 WHERE id = 1"};

}  // namespace

TEST_F(PgPool, ConcurrentTransactionsFromCoroutinesAllCommitWithinThePoolBound) {
  setup(
      "CREATE TABLE logs (who text, n int); CREATE TABLE counters (id int PRIMARY KEY, n int);"
      "INSERT INTO counters VALUES (1, 0);");
  Pool pool(io.get_executor(), options(6), tracker::log::null_logger());
  constexpr int kTasks = 300;
  int committed = 0;
  std::size_t most_open = 0;
  for (int i = 0; i < kTasks; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto result = co_await tracker::pg::in_transaction(
              pool, [&](Connection& c) -> asio::awaitable<Result<int>> {
                auto inserted = co_await c.execute(kInsert, Params{"coroutine", i});
                if (!inserted) co_return inserted.error();
                auto bumped = co_await c.execute(kBump);  // every task contends for this one row
                if (!bumped) co_return bumped.error();
                most_open = std::max(most_open, pool.stats().open);
                co_return 1;
              });
          if (result)
            ++committed;
          else
            ADD_FAILURE() << result.error().describe();
        },
        asio::detached);
  }
  io.run_for(120s);
  EXPECT_EQ(committed, kTasks);
  EXPECT_EQ(scalar("SELECT count(*) FROM logs"), std::to_string(kTasks));
  EXPECT_EQ(scalar("SELECT n FROM counters WHERE id = 1"), std::to_string(kTasks));
  EXPECT_LE(most_open, 6U);
  EXPECT_GE(most_open, 2U) << "the pool never ran transactions side by side";
}

TEST_F(PgPool, FailedTransactionRollsBackEverything) {
  setup("CREATE TABLE logs (who text PRIMARY KEY, n int);");
  Pool pool(io.get_executor(), options(2), tracker::log::null_logger());
  auto result =
      run(io, tracker::pg::in_transaction(pool, [&](Connection& c) -> asio::awaitable<Result<int>> {
            auto first = co_await c.query("INSERT INTO logs VALUES ('a', 1)");
            if (!first) co_return first.error();
            auto duplicate = co_await c.query("INSERT INTO logs VALUES ('a', 2)");
            if (!duplicate) co_return duplicate.error();
            co_return 0;
          }));
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().unique_violation());
  EXPECT_EQ(scalar("SELECT count(*) FROM logs"), "0");
  EXPECT_EQ(pool.stats().idle, 1U) << "the rolled-back connection is clean and back in the pool";
}

TEST_F(PgPool, SerializationFailuresAreRetriedUntilBothCommit) {
  setup("CREATE TABLE counters (id int PRIMARY KEY, n int); INSERT INTO counters VALUES (1, 0);");
  Pool pool(io.get_executor(), options(2), tracker::log::null_logger());
  int attempts = 0;
  int committed = 0;
  bool first_has_read = false;
  for (int task = 0; task < 2; ++task) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto result = co_await tracker::pg::in_transaction(
              pool,
              [&](Connection& c) -> asio::awaitable<Result<int>> {
                ++attempts;
                auto read = co_await c.query("SELECT n FROM counters WHERE id = 1");
                if (!read) co_return read.error();
                // Make the two first attempts overlap: both read before either writes.
                if (!first_has_read) {
                  first_has_read = true;
                  asio::steady_timer wait(co_await asio::this_coro::executor, 300ms);
                  co_await wait.async_wait(asio::use_awaitable);
                }
                auto written = co_await c.query("UPDATE counters SET n = $1 WHERE id = 1",
                                                Params{read->get<int>(0, 0) + 1});
                if (!written) co_return written.error();
                co_return 1;
              },
              {.isolation = tracker::pg::Isolation::serializable, .max_attempts = 5});
          if (result)
            ++committed;
          else
            ADD_FAILURE() << result.error().describe();
        },
        asio::detached);
  }
  io.run_for(60s);
  EXPECT_EQ(committed, 2);
  EXPECT_GT(attempts, 2) << "no serialization failure was provoked, so no retry was tested";
  EXPECT_EQ(scalar("SELECT n FROM counters WHERE id = 1"), "2") << "a lost update slipped through";
}

TEST_F(PgPool, AcquireGivesUpAtItsDeadlineWhenEveryConnectionIsBusy) {
  Pool pool(io.get_executor(), options(1, 200ms), tracker::log::null_logger());
  auto second = run(io, [&]() -> asio::awaitable<Result<tracker::pg::PooledConnection>> {
    auto first = co_await pool.acquire();
    EXPECT_TRUE(first);
    co_return co_await pool.acquire();  // `first` is still held
  }());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, Error::Kind::pool);
}

TEST_F(PgPool, WaiterGetsTheConnectionReleasedByAnother) {
  Pool pool(io.get_executor(), options(1, 10s), tracker::log::null_logger());
  std::vector<int> order;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto held = co_await pool.acquire();
    const int pid = (*held)->backend_pid();
    asio::co_spawn(
        ex,
        [&, pid]() -> asio::awaitable<void> {
          auto next = co_await pool.acquire();
          EXPECT_TRUE(next);
          if (next) {
            EXPECT_EQ((*next)->backend_pid(), pid) << "a new connection was opened instead";
          }
          order.push_back(2);
        },
        asio::detached);
    asio::steady_timer wait(ex, 100ms);
    co_await wait.async_wait(asio::use_awaitable);
    order.push_back(1);
    held = {};  // release
  }());
  io.restart();
  io.run_for(5s);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST_F(PgPool, ConnectionReturnedInsideATransactionIsDiscarded) {
  Pool pool(io.get_executor(), options(2), tracker::log::null_logger());
  run(io, [&]() -> asio::awaitable<void> {
    auto lease = co_await pool.acquire();
    auto begun = co_await (*lease)->query("BEGIN");
    EXPECT_TRUE(begun);
  }());
  EXPECT_EQ(pool.stats().idle, 0U);
  EXPECT_EQ(pool.stats().open, 0U);
}

TEST_F(PgPool, UnreachableServerMakesThePoolNotReachable) {
  Pool pool(io.get_executor(),
            {.connect = {.conninfo = "postgresql://x:y@127.0.0.1:1/db", .connect_timeout = 2s},
             .max_connections = 2},
            tracker::log::null_logger());
  auto lease = run(io, pool.acquire());
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().kind, Error::Kind::connection);
  EXPECT_FALSE(pool.reachable());
  EXPECT_EQ(pool.stats().open, 0U) << "a failed connect must give its slot back";
}
