// The pool's slot accounting when connecting hangs, fails, or is cancelled. The "server" is a
// socket that listens but never answers: the kernel completes the TCP handshake and libpq then
// waits for a reply that never comes.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <tracker/async/deadline.hpp>
#include <tracker/pg/pool.hpp>

#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::pg::Error;
using tracker::pg::Pool;
using tracker::pg::PooledConnection;
using tracker::pg::Result;
using tracker::testing::run;

namespace {

struct SilentServer : ::testing::Test {
  asio::io_context io;
  asio::ip::tcp::acceptor listener{io, {asio::ip::make_address("127.0.0.1"), 0}};

  tracker::pg::PoolOptions options(std::chrono::milliseconds connect_timeout,
                                   std::chrono::milliseconds acquire_timeout) {
    return {.connect = {.conninfo = "postgresql://u:p@127.0.0.1:" +
                                    std::to_string(listener.local_endpoint().port()) + "/db",
                        .connect_timeout = connect_timeout},
            .max_connections = 1,
            .acquire_timeout = acquire_timeout,
            .max_waiters = 2};
  }
};

}  // namespace

TEST_F(SilentServer, AcquireCancelledWhileConnectingGivesItsSlotBack) {
  Pool pool(io.get_executor(), options(30s, 30s), tracker::log::null_logger());
  auto outcome = run(io, tracker::async::with_timeout(pool.acquire(), 100ms), 10s);
  EXPECT_FALSE(outcome.has_value()) << "the deadline should have won";
  EXPECT_EQ(pool.stats().open, 0U) << "a cancelled connect kept its slot";
}

TEST_F(SilentServer, FailedConnectPassesItsSlotToTheNextWaiter) {
  Pool pool(io.get_executor(), options(300ms, 20s), tracker::log::null_logger());
  std::vector<Error::Kind> kinds;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(io, pool.acquire(), [&](std::exception_ptr e, Result<PooledConnection> lease) {
      if (e) std::rethrow_exception(e);
      kinds.push_back(lease ? Error::Kind::usage : lease.error().kind);
    });
  }
  io.run_for(10s);  // far less than acquire_timeout: the waiter must not sleep until then
  ASSERT_EQ(kinds.size(), 2U);
  EXPECT_EQ(kinds[0], Error::Kind::connection);
  EXPECT_EQ(kinds[1], Error::Kind::connection) << "the waiter was not woken by the failure";
  EXPECT_EQ(pool.stats().open, 0U);
}

TEST_F(SilentServer, WaitersBeyondTheBoundAreRefusedAtOnce) {
  Pool pool(io.get_executor(), options(2s, 5s), tracker::log::null_logger());
  std::vector<std::string> errors;
  for (int i = 0; i < 4; ++i) {  // one connecting, two waiting (the bound), one refused
    asio::co_spawn(io, pool.acquire(), [&](std::exception_ptr, Result<PooledConnection> lease) {
      if (!lease) errors.push_back(lease.error().message);
    });
  }
  io.run_for(200ms);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].find("too many waiting"), std::string::npos) << errors[0];
  EXPECT_EQ(pool.stats().waiting, 2U);
  io.run_for(15s);
  EXPECT_EQ(pool.stats().open, 0U);
  EXPECT_EQ(pool.stats().waiting, 0U);
}
