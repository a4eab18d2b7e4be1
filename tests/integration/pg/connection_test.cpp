#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/pg/connection.hpp>

#include "pg_schema.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::pg::Connection;
using tracker::pg::Error;
using tracker::pg::Params;
using tracker::testing::run;
using tracker::testing::ScratchSchema;
using tracker::testing::test_database_url;

namespace {

struct PgConnection : ::testing::Test {
  asio::io_context io;
  ScratchSchema schema;

  std::unique_ptr<Connection> connect(std::chrono::milliseconds query_timeout = 5s) {
    auto connection =
        run(io, Connection::connect(io.get_executor(), {.conninfo = test_database_url(),
                                                        .query_timeout = query_timeout,
                                                        .search_path = schema.name()}));
    if (!connection) throw std::runtime_error(connection.error().describe());
    return std::move(*connection);
  }
};

}  // namespace

TEST_F(PgConnection, ParametersRoundTripIncludingNullAndUnicode) {
  auto c = connect();
  auto rows = run(io, c->query("SELECT $1::text, $2::bigint + 1, $3::text IS NULL, $4::boolean",
                               Params{"공부 기록 ✓", std::int64_t{41}, std::nullopt, true}));
  ASSERT_TRUE(rows) << rows.error().describe();
  ASSERT_EQ(rows->size(), 1);
  EXPECT_EQ(rows->get<std::string>(0, 0), "공부 기록 ✓");
  EXPECT_EQ(rows->get<std::int64_t>(0, 1), 42);
  EXPECT_TRUE(rows->get<bool>(0, 2));
  EXPECT_TRUE(rows->get<bool>(0, 3));
}

TEST_F(PgConnection, ParametersAreNeverInterpretedAsSql) {
  auto c = connect();
  ASSERT_TRUE(run(io, c->execute_script("CREATE TABLE notes (body text)")));
  const std::string hostile = "x'); DROP TABLE notes; --";
  ASSERT_TRUE(run(io, c->query("INSERT INTO notes VALUES ($1)", Params{hostile})));
  auto rows = run(io, c->query("SELECT body FROM notes"));
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->get<std::string>(0, 0), hostile);
}

TEST_F(PgConnection, PreparedStatementIsPreparedOnceAndReused) {
  auto c = connect();
  const tracker::pg::Statement add{"add_one", "SELECT $1::int + 1"};
  for (int i = 0; i < 3; ++i) {
    auto rows = run(io, c->execute(add, Params{i}));
    ASSERT_TRUE(rows) << rows.error().describe();
    EXPECT_EQ(rows->get<int>(0, 0), i + 1);
  }
  auto prepared =
      run(io, c->query("SELECT count(*) FROM pg_prepared_statements WHERE name = 'add_one'"));
  EXPECT_EQ(prepared->get<int>(0, 0), 1);
  auto clash = run(io, c->execute({"add_one", "SELECT 2"}));
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().kind, Error::Kind::usage);
}

TEST_F(PgConnection, UniqueViolationCarriesItsSqlState) {
  auto c = connect();
  ASSERT_TRUE(run(io, c->execute_script("CREATE TABLE events (id text PRIMARY KEY); "
                                        "INSERT INTO events VALUES ('Ev1');")));
  auto again = run(io, c->query("INSERT INTO events VALUES ($1)", Params{"Ev1"}));
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().unique_violation()) << again.error().describe();
  EXPECT_TRUE(c->reusable())
      << "a failed statement outside a transaction leaves the connection usable";
  auto syntax = run(io, c->query("SELEC 1"));
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().sqlstate, "42601");
}

TEST_F(PgConnection, StatementPastItsDeadlineFailsAndTheConnectionIsRetired) {
  auto c = connect(300ms);
  auto slow = run(io, c->query("SELECT pg_sleep(5)"));
  ASSERT_FALSE(slow);
  EXPECT_TRUE(slow.error().kind == Error::Kind::timeout || slow.error().sqlstate == "57014")
      << slow.error().describe();
  // Either the client gave up (connection half-way through an exchange) or the server cancelled
  // the statement; in both cases nothing is left waiting.
  if (slow.error().kind == Error::Kind::timeout) {
    EXPECT_FALSE(c->healthy());
  }
}

TEST_F(PgConnection, WrongPasswordIsAConnectionErrorThatDoesNotEchoThePassword) {
  std::string url = test_database_url();
  const auto at = url.find('@');
  const auto colon = url.rfind(':', at);
  ASSERT_NE(at, std::string::npos);
  url = url.substr(0, colon + 1) + "not-the-password-xyz" + url.substr(at);
  auto connection = run(io, Connection::connect(io.get_executor(), {.conninfo = url}));
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
  EXPECT_EQ(connection.error().message.find("not-the-password-xyz"), std::string::npos);
}

TEST_F(PgConnection, NothingListeningIsAConnectionErrorWithinTheConnectTimeout) {
  auto connection = run(
      io,
      Connection::connect(io.get_executor(),
                          {.conninfo = "postgresql://x:y@127.0.0.1:1/db", .connect_timeout = 2s}),
      10s);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
}

TEST_F(PgConnection, WaitingForTheServerDoesNotBlockTheEventLoop) {
  auto c = connect();
  int ticks = 0;
  bool query_done = false;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          while (!query_done) {
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::use_awaitable);
            ++ticks;
          }
        },
        asio::detached);
    auto rows = co_await c->query("SELECT pg_sleep(0.5)");
    query_done = true;
    EXPECT_TRUE(rows) << rows.error().describe();
  }());
  // A blocking query would have starved the timer on this single thread.
  EXPECT_GE(ticks, 10) << "the timer coroutine did not run while the query was in flight";
}

namespace {

// The test database's URL with its host (127.0.0.1 in the local stack) replaced by `hosts`.
std::string with_hosts(const std::string& hosts) {
  std::string url = test_database_url();
  const auto at = url.find('@');
  const auto end = url.find('/', at);
  if (at == std::string::npos || end == std::string::npos) {
    throw std::runtime_error("TRACKER_TEST_DATABASE_URL is not postgresql://user:pw@host:port/db");
  }
  const auto colon = url.rfind(':', end);
  const std::string port =
      colon != std::string::npos && colon > at ? url.substr(colon + 1, end - colon - 1) : "5432";
  std::string list;
  std::size_t start = 0;
  for (;;) {
    const auto comma = hosts.find(',', start);
    if (!list.empty()) list += ',';
    list += hosts.substr(start, comma - start) + ":" + port;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return url.substr(0, at + 1) + list + url.substr(end);
}

}  // namespace

TEST_F(PgConnection, AHostNameIsLookedUpAndLibpqStillKnowsTheHostByIt) {
  const tracker::pg::ConnectOptions options{.conninfo = with_hosts("localhost")};
  auto connection = run(io, Connection::connect(io.get_executor(), options));
  ASSERT_TRUE(connection) << connection.error().describe();
  // The name is what TLS verifies and .pgpass matches; the address is what was looked up.
  EXPECT_EQ((*connection)->host(), "localhost");
  EXPECT_FALSE((*connection)->host_address().empty());
  EXPECT_NE((*connection)->host_address(), "localhost");
  auto rows = run(io, (*connection)->query("SELECT 1"));
  ASSERT_TRUE(rows) << rows.error().describe();
}

TEST_F(PgConnection, AnUnresolvableHostIsAConnectionErrorNamingIt) {
  const tracker::pg::ConnectOptions options{
      .conninfo = "postgresql://x:not-the-password-xyz@no-such-host.invalid:5432/db",
      .connect_timeout = 5s};
  auto connection = run(io, Connection::connect(io.get_executor(), options), 20s);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
  EXPECT_EQ(connection.error().message.rfind("resolving no-such-host.invalid: ", 0), 0U)
      << connection.error().message;
  EXPECT_EQ(connection.error().message.find("not-the-password-xyz"), std::string::npos);
}

TEST_F(PgConnection, AHostListSkipsANameThatDoesNotResolve) {
  const tracker::pg::ConnectOptions options{.conninfo =
                                                with_hosts("no-such-host.invalid,localhost")};
  auto connection = run(io, Connection::connect(io.get_executor(), options));
  ASSERT_TRUE(connection) << connection.error().describe();
  EXPECT_EQ((*connection)->host(), "localhost");
}
