// tracker::http::Server over loopback: limits, timeouts, the connection cap and shutdown.
#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <tracker/http/server.hpp>

#include "run.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using tracker::testing::run;

namespace {

struct HttpServer : ::testing::Test {
  asio::io_context io;
  prometheus::Registry registry;
  int handled = 0;
  std::chrono::milliseconds handler_delay{0};
  std::unique_ptr<tracker::http::Server> server;

  void start(tracker::http::ServerOptions options) {
    options.address = "127.0.0.1";
    options.port = 0;
    server = std::make_unique<tracker::http::Server>(
        io.get_executor(), options,
        [this](tracker::http::Request& request) -> asio::awaitable<tracker::http::Response> {
          ++handled;
          if (handler_delay.count() > 0) {
            asio::steady_timer wait(co_await asio::this_coro::executor, handler_delay);
            co_await wait.async_wait(asio::use_awaitable);
          }
          co_return tracker::http::json_response(
              bh::status::ok, R"({"seen":")" + std::string(request.target()) + "\"}");
        },
        registry, tracker::log::null_logger());
    server->start();
  }

  asio::awaitable<tcp::socket> connect() {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), server->port()},
                                  asio::use_awaitable);
    co_return socket;
  }

  // Sends `raw` and reads one response (status 0 if the server closed without one).
  static asio::awaitable<unsigned> exchange(tcp::socket& socket, std::string raw) {
    co_await asio::async_write(socket, asio::buffer(raw), asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    bh::response<bh::string_body> response;
    auto [ec, n] =
        co_await bh::async_read(socket, buffer, response, asio::as_tuple(asio::use_awaitable));
    co_return ec ? 0U : response.result_int();
  }

  // True when the server closes the connection (read gives EOF or reset).
  static asio::awaitable<bool> closed_by_server(tcp::socket& socket) {
    char byte = 0;
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(&byte, 1),
                                                   asio::as_tuple(asio::use_awaitable));
    co_return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  std::string metrics() { return prometheus::TextSerializer().Serialize(registry.Collect()); }
};

const std::string kGet = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";

}  // namespace

TEST_F(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  start({});
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    auto socket = co_await connect();
    std::vector<unsigned> out;
    for (int i = 0; i < 3; ++i) out.push_back(co_await exchange(socket, kGet));
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 200}));
  EXPECT_EQ(handled, 3);
}

TEST_F(HttpServer, BodyOverTheLimitIs413WithoutReadingIt) {
  start({.body_limit = 1024});
  auto status = run(io, [&]() -> asio::awaitable<unsigned> {
    auto socket = co_await connect();
    co_return co_await exchange(socket,
                                "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
  }());
  EXPECT_EQ(status, 413U);
  EXPECT_EQ(handled, 0);
}

TEST_F(HttpServer, HeadersOverTheLimitAre431) {
  start({.header_limit = 1024});
  auto status = run(io, [&]() -> asio::awaitable<unsigned> {
    auto socket = co_await connect();
    co_return co_await exchange(
        socket, "GET /a HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'x') + "\r\n\r\n");
  }());
  EXPECT_EQ(status, 431U);
  EXPECT_EQ(handled, 0);
}

TEST_F(HttpServer, SlowHeadersAreCutOffAtTheHeaderTimeout) {
  start({.header_timeout = 200ms});
  auto closed = run(
      io,
      [&]() -> asio::awaitable<bool> {
        auto socket = co_await connect();
        const std::string partial =
            "POST /slack/events HTTP/1.1\r\nHost: t\r\n";  // and then nothing
        co_await asio::async_write(socket, asio::buffer(partial), asio::use_awaitable);
        co_return co_await closed_by_server(socket);
      }(),
      10s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(handled, 0);
  EXPECT_NE(metrics().find(R"(tracker_http_rejected_requests_total{reason="header_timeout"} 1)"),
            std::string::npos);
}

TEST_F(HttpServer, IdleConnectionIsClosedAtTheIdleTimeout) {
  start({.idle_timeout = 200ms});
  auto closed = run(
      io,
      [&]() -> asio::awaitable<bool> {
        auto socket = co_await connect();
        EXPECT_EQ(co_await exchange(socket, kGet), 200U);
        co_return co_await closed_by_server(socket);
      }(),
      10s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(server->open_connections(), 0U);
}

TEST_F(HttpServer, ConnectionsBeyondTheCapAreRefusedWith503) {
  start({.max_connections = 1});
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    auto first = co_await connect();
    std::vector<unsigned> out;
    out.push_back(co_await exchange(first, kGet));  // first holds the only slot (keep-alive)
    auto second = co_await connect();
    out.push_back(co_await exchange(second, kGet));
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 503}));
  EXPECT_NE(metrics().find("tracker_http_connections_refused_total 1"), std::string::npos);
}

TEST_F(HttpServer, ShutdownAnswersTheRequestInFlightAndClosesIdleOnes) {
  start({});
  handler_delay = 300ms;
  unsigned status = 0;
  std::size_t forced = 99;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        auto idle = co_await connect();
        auto busy = co_await connect();
        const std::string request = kGet;
        co_await asio::async_write(busy, asio::buffer(request), asio::use_awaitable);
        asio::steady_timer wait(co_await asio::this_coro::executor,
                                100ms);  // let it reach the handler
        co_await wait.async_wait(asio::use_awaitable);
        asio::co_spawn(
            co_await asio::this_coro::executor,
            [&]() -> asio::awaitable<void> { forced = co_await server->shutdown(5s); },
            asio::detached);
        boost::beast::flat_buffer buffer;
        bh::response<bh::string_body> response;
        co_await bh::async_read(busy, buffer, response, asio::use_awaitable);
        status = response.result_int();
        EXPECT_FALSE(response.keep_alive()) << "the last answer must say Connection: close";
        EXPECT_TRUE(co_await closed_by_server(idle));
      }(),
      10s);
  io.restart();
  io.run_for(2s);
  EXPECT_EQ(status, 200U);
  EXPECT_EQ(forced, 0U);
  EXPECT_EQ(server->open_connections(), 0U);
}
