// Host names of a conninfo are looked up before libpq sees them. No server: the lookups are
// test resolvers, and the connections go to a closed loopback port, whose refusal (libpq's
// message names the host and the address it tried) shows what libpq was given.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/pg/connection.hpp>
#include <tracker/pg/host_lookup.hpp>

#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::pg::Connection;
using tracker::pg::ConnectOptions;
using tracker::pg::Error;
using tracker::pg::HostAddresses;
using tracker::pg::HostList;
using tracker::pg::hosts_to_look_up;
using tracker::testing::run;

namespace {

asio::ip::address address_of(const char* text) {
  return asio::ip::make_address(text);
}

// A loopback port nothing listens on: libpq's connection is refused at once.
unsigned short refusing_port(asio::io_context& io) {
  asio::ip::tcp::acceptor probe(io, {address_of("127.0.0.1"), 0});
  return probe.local_endpoint().port();
}

// A lookup that answers `answer` after `delay`; cancelled, it stops waiting at once.
asio::awaitable<HostAddresses> answer_lookup_after(std::chrono::milliseconds delay,
                                                   HostAddresses answer) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  auto waited = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (std::get<0>(waited)) co_return HostAddresses(std::get<0>(waited));
  co_return answer;
}

// Answers each name from `answers` (host_not_found for any other) after `delay`, and records
// the names asked for in `asked`.
tracker::pg::ResolveHost lookup_resolver(
    std::map<std::string, std::vector<asio::ip::address>> answers, std::vector<std::string>* asked,
    std::chrono::milliseconds delay = 0ms) {
  return [answers = std::move(answers), asked, delay](std::string host) {
    asked->push_back(host);
    auto known = answers.find(host);
    if (known == answers.end()) {
      return answer_lookup_after(
          delay, HostAddresses(boost::system::error_code(asio::error::host_not_found)));
    }
    return answer_lookup_after(delay, HostAddresses(known->second));
  };
}

struct LookupCase {
  const char* conninfo;
  bool looked_up;                  // any host to look up at all
  std::vector<std::string> names;  // the hosts, when looked up
  std::vector<bool> needs_lookup;  // per host
  bool port_per_host;
};

}  // namespace

TEST(PgHostLookup, OnlyNamesWithoutAHostaddrAreLookedUp) {
  const std::vector<LookupCase> cases = {
      {"postgresql://u:p@127.0.0.1:5432/db", false, {}, {}, false},
      {"postgresql://u:p@[::1]:5432/db", false, {}, {}, false},
      {"host=/var/run/postgresql dbname=db", false, {}, {}, false},
      {"host=@abstract dbname=db", false, {}, {}, false},
      {"host=db.example hostaddr=10.0.0.1", false, {}, {}, false},
      {"dbname=db user=u", false, {}, {}, false},
      {"postgresql:///db", false, {}, {}, false},
      {"not a conninfo", false, {}, {}, false},
      {"host=a.example,b.example port=1,2,3", false, {}, {}, false},  // libpq refuses it
      {"host=db.example port=5432", true, {"db.example"}, {true}, false},
      {"postgresql://u:p@db.example/db", true, {"db.example"}, {true}, false},
      {"host=a.example,127.0.0.1 port=5432",
       true,
       {"a.example", "127.0.0.1"},
       {true, false},
       false},
      {"host=a.example,/tmp,b.example port=1,2,3",
       true,
       {"a.example", "/tmp", "b.example"},
       {true, false, true},
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.conninfo);
    const auto hosts = hosts_to_look_up(c.conninfo);
    ASSERT_EQ(hosts.has_value(), c.looked_up);
    if (!hosts) continue;
    ASSERT_EQ(hosts->targets.size(), c.names.size());
    for (std::size_t i = 0; i < c.names.size(); ++i) {
      EXPECT_EQ(hosts->targets[i].host, c.names[i]);
      EXPECT_EQ(hosts->targets[i].needs_lookup, c.needs_lookup[i]);
    }
    EXPECT_EQ(hosts->port_per_host, c.port_per_host);
  }
}

TEST(PgHostLookup, ANameIsRepeatedOncePerAddressAndAFailedOneIsLeftOut) {
  const auto hosts = hosts_to_look_up("host=a.example,127.0.0.1,b.example,c.example port=1,2,3,4");
  ASSERT_TRUE(hosts);
  const auto parameters = tracker::pg::host_parameters(
      *hosts, {{address_of("10.0.0.1"), address_of("fd00::1")}, {}, {}, {address_of("10.0.0.3")}});
  EXPECT_EQ(parameters.host, "a.example,a.example,127.0.0.1,c.example");
  EXPECT_EQ(parameters.hostaddr, "10.0.0.1,fd00::1,,10.0.0.3");
  EXPECT_EQ(parameters.port, "1,1,2,4");
}

TEST(PgHostLookup, GetaddrinfoFindsLocalhostFromTheHostsFile) {
  asio::io_context io;
  auto found = run(io, tracker::pg::resolve_with_getaddrinfo("localhost"), 10s);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_NE(std::find(found->begin(), found->end(), address_of("127.0.0.1")), found->end());
}

TEST(PgConnectLookup, TheIoThreadKeepsServingWhileALookupIsSlow) {
  asio::io_context io;
  std::vector<std::string> asked;
  ConnectOptions options{
      .conninfo = "postgresql://u:p@db.example:" + std::to_string(refusing_port(io)) + "/db",
      .connect_timeout = 5s,
      .resolve = lookup_resolver({{"db.example", {address_of("127.0.0.1")}}}, &asked, 500ms)};
  int ticks = 0;
  bool done = false;
  bool connected = false;
  std::string error;
  run(io, [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          while (!done) {
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::use_awaitable);
            ++ticks;
          }
        },
        asio::detached);
    auto connection = co_await Connection::connect(executor, options);
    done = true;
    connected = connection.has_value();
    error = connection ? "" : connection.error().message;
  }());
  EXPECT_EQ(asked, std::vector<std::string>{"db.example"});
  // A blocking lookup would have starved the timer on this single thread for 500 ms.
  EXPECT_GE(ticks, 20) << "the timer coroutine did not run while the name was looked up";
  EXPECT_FALSE(connected);
  // libpq was given the address found (its message shows the address, ours the name too).
  EXPECT_NE(error.find("connection to server at \"127.0.0.1\""), std::string::npos) << error;
  EXPECT_NE(error.find("(db.example is 127.0.0.1)"), std::string::npos) << error;
}

TEST(PgConnectLookup, AnUnresolvableNameIsAConnectionErrorNamingItWithoutThePassword) {
  asio::io_context io;
  std::vector<std::string> asked;
  const ConnectOptions options{.conninfo = "postgresql://u:secret-pw-xyz@db.example:5432/db",
                               .resolve = lookup_resolver({}, &asked)};
  auto connection = run(io, Connection::connect(io.get_executor(), options), 10s);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
  EXPECT_EQ(connection.error().message, "resolving db.example: Host not found (authoritative)");
  EXPECT_EQ(asked, std::vector<std::string>{"db.example"});
}

TEST(PgConnectLookup, ALookupPastTheConnectTimeoutFailsNamingTheHost) {
  asio::io_context io;
  std::vector<std::string> asked;
  const ConnectOptions options{
      .conninfo = "host=db.example user=u password=secret-pw-xyz dbname=db",
      .connect_timeout = 200ms,
      .resolve = lookup_resolver({{"db.example", {address_of("127.0.0.1")}}}, &asked, 1h)};
  // The run's limit fails the test unless the deadline cancels the hour-long lookup.
  auto connection = run(io, Connection::connect(io.get_executor(), options), 10s);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
  EXPECT_EQ(connection.error().message, "resolving db.example: timed out after 200 ms");
}

TEST(PgConnectLookup, IpLiteralsAreNotLookedUp) {
  asio::io_context io;
  std::vector<std::string> asked;
  const ConnectOptions options{
      .conninfo = "postgresql://u:p@127.0.0.1:" + std::to_string(refusing_port(io)) + "/db",
      .resolve = lookup_resolver({}, &asked)};
  auto connection = run(io, Connection::connect(io.get_executor(), options), 10s);
  ASSERT_FALSE(connection);
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
  EXPECT_TRUE(asked.empty());
  EXPECT_NE(connection.error().message.find("127.0.0.1"), std::string::npos)
      << connection.error().message;
}

TEST(PgConnectLookup, EachHostOfAListIsLookedUpAndOneThatFailsIsSkipped) {
  asio::io_context io;
  std::vector<std::string> asked;
  const auto port = std::to_string(refusing_port(io));
  const ConnectOptions options{
      .conninfo = "postgresql://u:p@bad.example:" + port + ",db.example:" + port + "/db",
      .resolve = lookup_resolver({{"db.example", {address_of("127.0.0.1")}}}, &asked)};
  auto connection = run(io, Connection::connect(io.get_executor(), options), 10s);
  ASSERT_FALSE(connection);
  const std::string& message = connection.error().message;
  EXPECT_EQ(connection.error().kind, Error::Kind::connection);
  EXPECT_EQ(asked, (std::vector<std::string>{"bad.example", "db.example"}));
  EXPECT_NE(message.find("connection to server at \"127.0.0.1\""), std::string::npos) << message;
  EXPECT_NE(message.find(
                "(resolving bad.example: Host not found (authoritative); db.example is 127.0.0.1)"),
            std::string::npos)
      << message;
}
