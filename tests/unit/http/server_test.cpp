// tracker::http::Server over loopback: limits, timeouts, the connection cap and shutdown. Every
// test runs twice: with a strand per connection on the test's io_context, and with the
// connections accepted and served on two single-threaded event loops (async::EventLoops).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <prometheus/text_serializer.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <tracker/async/event_loops.hpp>
#include <tracker/http/descriptors.hpp>
#include <tracker/http/server.hpp>

#include "run.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using tracker::testing::run;

namespace {

enum class Threads { strands, loops };

struct HttpServer : ::testing::TestWithParam<Threads> {
  asio::io_context io;
  prometheus::Registry registry;
  std::atomic<int> handled{0};
  std::optional<tracker::async::EventLoops> loops;
  std::mutex threads_mutex;
  std::set<std::thread::id> handler_threads;  // where the handler ran
  std::chrono::milliseconds handler_delay{0};
  std::unique_ptr<tracker::http::Server> server;

  // The loops' threads end before the members their handlers use are destroyed.
  ~HttpServer() override {
    server.reset();
    if (loops) loops->stop();
  }

  // On 127.0.0.1, at any free port unless `port` is given.
  void start(tracker::http::ServerOptions options, std::uint16_t port = 0) {
    options.address = "127.0.0.1";
    options.port = port;
    tracker::http::Handler handler =
        [this](tracker::http::Request& request) -> asio::awaitable<tracker::http::Response> {
      ++handled;
      {
        std::lock_guard lock(threads_mutex);
        handler_threads.insert(std::this_thread::get_id());
      }
      if (handler_delay.count() > 0) {
        asio::steady_timer wait(co_await asio::this_coro::executor, handler_delay);
        co_await wait.async_wait(asio::use_awaitable);
      }
      co_return tracker::http::json_response(
          bh::status::ok, R"({"seen":")" + std::string(request.target()) + "\"}");
    };
    if (GetParam() == Threads::loops) {
      loops.emplace(2);
      server = std::make_unique<tracker::http::Server>(
          loops->executors(), options, std::move(handler), registry, tracker::log::null_logger());
    } else {
      server = std::make_unique<tracker::http::Server>(
          io.get_executor(), options, std::move(handler), registry, tracker::log::null_logger());
    }
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

INSTANTIATE_TEST_SUITE_P(Threads, HttpServer, ::testing::Values(Threads::strands, Threads::loops),
                         [](const ::testing::TestParamInfo<Threads>& param) {
                           return param.param == Threads::loops ? "TwoEventLoops" : "Strands";
                         });

TEST_P(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  start({});
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    auto socket = co_await connect();
    std::vector<unsigned> out;
    for (int i = 0; i < 3; ++i) out.push_back(co_await exchange(socket, kGet));
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 200}));
  EXPECT_EQ(handled.load(), 3);
}

// With event loops, the kernel spreads the connections over the loops' acceptors and a handler
// never runs on the test's thread; with strands, everything runs on the test's thread.
TEST_P(HttpServer, ConnectionsAreServedOnTheLoops) {
  start({});
  run(io, [&]() -> asio::awaitable<void> {
    std::vector<tcp::socket> sockets;
    for (int i = 0; i < 16; ++i) sockets.push_back(co_await connect());
    for (auto& socket : sockets) {
      for (int i = 0; i < 2; ++i) EXPECT_EQ(co_await exchange(socket, kGet), 200U);
    }
  }());
  EXPECT_EQ(handled.load(), 32);
  std::lock_guard lock(threads_mutex);
  if (GetParam() == Threads::loops) {
    EXPECT_EQ(handler_threads.size(), 2U);
    EXPECT_EQ(handler_threads.count(std::this_thread::get_id()), 0U);
  } else {
    EXPECT_EQ(handler_threads, std::set<std::thread::id>{std::this_thread::get_id()});
  }
}

// A port something else listens on is refused at start, even with the loops' acceptors sharing
// their port among themselves (SO_REUSEPORT): by a plain listener and by another such server.
TEST_P(HttpServer, APortAlreadyTakenIsRefusedAtStart) {
  tcp::acceptor plain(io, {asio::ip::make_address("127.0.0.1"), 0});
  EXPECT_THROW(start({}, plain.local_endpoint().port()), boost::system::system_error);
  plain.close();
  start({});
  const std::uint16_t taken = server->port();
  tracker::async::EventLoops other_loops(2);
  tracker::http::Server other(
      other_loops.executors(), {.address = "127.0.0.1", .port = taken},
      [](tracker::http::Request&) -> asio::awaitable<tracker::http::Response> {
        co_return tracker::http::json_response(bh::status::ok, "{}");
      },
      registry, tracker::log::null_logger());
  EXPECT_THROW(other.start(), boost::system::system_error);
  run(io, [&]() -> asio::awaitable<void> {
    auto socket = co_await connect();
    EXPECT_EQ(co_await exchange(socket, kGet), 200U) << "the first server still serves";
  }());
}

TEST_P(HttpServer, BodyOverTheLimitIs413WithoutReadingIt) {
  start({.body_limit = 1024});
  auto status = run(io, [&]() -> asio::awaitable<unsigned> {
    auto socket = co_await connect();
    co_return co_await exchange(socket,
                                "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
  }());
  EXPECT_EQ(status, 413U);
  EXPECT_EQ(handled.load(), 0);
}

TEST_P(HttpServer, HeadersOverTheLimitAre431) {
  start({.header_limit = 1024});
  auto status = run(io, [&]() -> asio::awaitable<unsigned> {
    auto socket = co_await connect();
    co_return co_await exchange(
        socket, "GET /a HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'x') + "\r\n\r\n");
  }());
  EXPECT_EQ(status, 431U);
  EXPECT_EQ(handled.load(), 0);
}

TEST_P(HttpServer, SlowHeadersAreCutOffAtTheHeaderTimeout) {
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
  EXPECT_EQ(handled.load(), 0);
  EXPECT_NE(metrics().find(R"(tracker_http_rejected_requests_total{reason="header_timeout"} 1)"),
            std::string::npos);
}

TEST_P(HttpServer, IdleConnectionIsClosedAtTheIdleTimeout) {
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
  // Counted out just after the close the client saw, on the server's own thread.
  for (int i = 0; i < 200 && server->open_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server->open_connections(), 0U);
}

TEST_P(HttpServer, ConnectionsBeyondTheCapAreRefusedWith503) {
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

TEST_P(HttpServer, ShutdownAnswersTheRequestInFlightAndClosesIdleOnes) {
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

namespace {

// Sends `raw` and reads one response within `limit` (status 0 if none came).
asio::awaitable<unsigned> exchange_within(tcp::socket& socket, const std::string& raw,
                                          std::chrono::milliseconds limit) {
  boost::beast::tcp_stream stream(std::move(socket));
  stream.expires_after(limit);
  auto [write_ec, written] =
      co_await asio::async_write(stream, asio::buffer(raw), asio::as_tuple(asio::use_awaitable));
  unsigned status = 0;
  if (!write_ec) {
    boost::beast::flat_buffer buffer;
    bh::response<bh::string_body> response;
    auto [ec, n] =
        co_await bh::async_read(stream, buffer, response, asio::as_tuple(asio::use_awaitable));
    if (!ec) status = response.result_int();
  }
  stream.expires_never();
  socket = stream.release_socket();
  co_return status;
}

}  // namespace

// RFC 9110 9.3.2: the answer to HEAD has GET's headers and no body. A body would be read as the
// next response by a client that keeps the connection.
TEST_P(HttpServer, HeadIsAnsweredWithHeadersOnly) {
  start({});
  auto result = run(io, [&]() -> asio::awaitable<std::pair<std::string, std::string>> {
    auto socket = co_await connect();
    co_await asio::async_write(
        socket, asio::buffer(std::string("HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n") + kGet),
        asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    bh::response_parser<bh::string_body> head;
    head.skip(true);  // what a client does for HEAD: no body expected
    co_await bh::async_read(socket, buffer, head, asio::use_awaitable);
    bh::response<bh::string_body> next;
    co_await bh::async_read(socket, buffer, next, asio::use_awaitable);
    co_return std::make_pair(std::string(head.get()[bh::field::content_length]), next.body());
  }());
  EXPECT_EQ(result.first, std::to_string(std::string(R"({"seen":"/a"})").size()))
      << "HEAD keeps the Content-Length of GET";
  EXPECT_EQ(result.second, R"({"seen":"/a"})") << "the next response is read intact";
  EXPECT_EQ(handled.load(), 2);
}

// RFC 9112 3.2: an HTTP/1.1 request without Host is 400, and so is one with two; HTTP/1.0
// needs none.
TEST_P(HttpServer, Http11RequestWithoutHostIs400) {
  start({});
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> out;
    auto first = co_await connect();
    out.push_back(co_await exchange(first, "GET /a HTTP/1.1\r\n\r\n"));
    auto second = co_await connect();
    out.push_back(co_await exchange(second, "GET /a HTTP/1.0\r\n\r\n"));
    auto third = co_await connect();
    out.push_back(co_await exchange(third, "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{400, 200, 400}));
  EXPECT_EQ(handled.load(), 1);
}

// RFC 9112 6.1: a transfer coding the server does not decode is refused, not ignored.
TEST_P(HttpServer, TransferCodingsOtherThanChunkedAre501) {
  start({});
  const std::string chunked_body = "\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> out;
    for (const char* coding : {"gzip, chunked", "chunked", "Chunked"}) {
      auto socket = co_await connect();
      out.push_back(co_await exchange(
          socket, std::string("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ") + coding +
                      chunked_body));
    }
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{501, 200, 200}));
  EXPECT_EQ(handled.load(), 2);
}

// RFC 9110 6.5: trailer fields are not header fields. Beast's parser adds a chunked body's trailer
// fields to the request's fields, where a handler would take a trailer "Host" for a second Host
// header, or a trailer "X-Slack-Signature" for the signature header; such a request is refused.
TEST_P(HttpServer, ChunkedRequestsWithTrailerFieldsAre400) {
  start({});
  const std::string head = "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> out;
    for (const char* trailer :
         {"Host: x\r\n", "X-Slack-Signature: v0=00\r\n", "X-Checksum: 1\r\nX-Other: 2\r\n", ""}) {
      auto socket = co_await connect();
      out.push_back(co_await exchange(socket, head + "5\r\nhello\r\n0\r\n" + trailer + "\r\n"));
    }
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{400, 400, 400, 200}));
  EXPECT_EQ(handled.load(), 1) << "only the request without trailer fields reaches the handler";
  EXPECT_NE(metrics().find(R"(tracker_http_rejected_requests_total{reason="trailer_fields"} 3)"),
            std::string::npos)
      << metrics();
}

// A probe port (evict_idle_when_full): idle connections at the cap make room for a newcomer.
TEST_P(HttpServer, AtTheCapTheLongestIdleConnectionMakesRoomWhenEvictionIsOn) {
  start({.max_connections = 2, .evict_idle_when_full = true});
  auto result = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> out;
    auto oldest = co_await connect();
    out.push_back(co_await exchange(oldest, kGet));  // kept alive, idle
    auto trickling = co_await connect();
    co_await asio::async_write(trickling, asio::buffer(std::string("GET /a HTTP/1.1\r\n")),
                               asio::use_awaitable);  // reading a request, not idle
    asio::steady_timer pause(co_await asio::this_coro::executor, 50ms);
    co_await pause.async_wait(asio::use_awaitable);
    auto newcomer = co_await connect();
    out.push_back(co_await exchange(newcomer, kGet));
    out.push_back(co_await closed_by_server(oldest) ? 1U : 0U);
    // Both left are reading a request now: the one reading longest makes room for the next.
    co_await asio::async_write(newcomer, asio::buffer(std::string("GET /b HTTP/1.1\r\n")),
                               asio::use_awaitable);
    // Until the evicted connection is counted out (on its own loop, with event loops).
    for (int i = 0; i < 100 && server->open_connections() > 2; ++i) {
      pause.expires_after(20ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    pause.expires_after(50ms);
    co_await pause.async_wait(asio::use_awaitable);
    auto another = co_await connect();
    out.push_back(co_await exchange(another, kGet));
    out.push_back(co_await closed_by_server(trickling) ? 1U : 0U);
    co_return out;
  }());
  EXPECT_EQ(result, (std::vector<unsigned>{200, 200, 1, 200, 1}));
  EXPECT_NE(metrics().find("tracker_http_connections_evicted_total 2"), std::string::npos);
  EXPECT_NE(metrics().find("tracker_http_connections_refused_total 0"), std::string::npos);
}

// With the process out of descriptors, the server still answers the connection it could not
// accept (503, from its reserve descriptor) instead of leaving the client hanging.
TEST_P(HttpServer, OutOfDescriptorsANewConnectionStillGets503) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' runtime needs descriptors of its own to check memory (UBSan's vptr check
  // opens a pipe for a type it has not met yet), so a process left with none cannot be checked
  // by it: this test runs in the release build. The limit check at start runs in both
  // (IngestBinary.RefusesToStartWhenTheConnectionCapDoesNotFitTheDescriptorLimit).
  GTEST_SKIP() << "needs a process without descriptors, which the sanitizers cannot check";
#endif
  start({});
  // One exchange first, while descriptors are plentiful: the sanitizers' type checks (UBSan's
  // vptr check opens a pipe the first time it meets a type) are then done before none is left.
  ASSERT_EQ(run(io,
                [&]() -> asio::awaitable<unsigned> {
                  auto socket = co_await connect();
                  co_return co_await exchange_within(socket, kGet, 3s);
                }()),
            200U);
  int highest = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
  }
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(highest + 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  // Fill every free descriptor under the limit, then free nine: room for four connections
  // (a client and a server descriptor each) and one client socket more.
  std::vector<int> filler;
  for (int fd = ::open("/dev/null", O_RDONLY); fd >= 0; fd = ::open("/dev/null", O_RDONLY)) {
    filler.push_back(fd);
  }
  ASSERT_GE(filler.size(), 9U);
  for (int i = 0; i < 9; ++i) {
    ::close(filler.back());
    filler.pop_back();
  }
  const auto release = [&] {
    for (int fd : filler) ::close(fd);
    filler.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved);
  };
  std::vector<unsigned> statuses;
  try {
    statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
      std::vector<unsigned> out;
      std::vector<tcp::socket> held;
      for (int i = 0; i < 8; ++i) {
        tcp::socket socket(co_await asio::this_coro::executor);
        boost::system::error_code ec;
        socket.open(tcp::v4(), ec);
        if (ec && !filler.empty()) {
          // The client side ran out first (an even number were free): one more, so that the
          // client's socket takes the last descriptor and the server's accept finds none.
          ::close(filler.back());
          filler.pop_back();
          socket.open(tcp::v4(), ec);
        }
        if (ec) break;
        // No structured binding here: GCC 12 rejects one inside a lambda coroutine.
        auto connected =
            co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), server->port()},
                                          asio::as_tuple(asio::use_awaitable));
        if (std::get<0>(connected)) break;
        out.push_back(co_await exchange_within(socket, kGet, 3s));
        if (out.back() != 200) break;
        held.push_back(std::move(socket));
      }
      co_return out;
    }());
  } catch (...) {
    release();
    throw;
  }
  release();
  ASSERT_GE(statuses.size(), 2U);
  EXPECT_EQ(statuses.front(), 200U);
  EXPECT_EQ(statuses.back(), 503U)
      << "the connection beyond the descriptors is answered, not left in the backlog";
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200U), statuses.size() - 1);
  EXPECT_NE(metrics().find("tracker_http_connections_refused_total 1"), std::string::npos);
}

TEST(DescriptorLimit, ShortfallNamesTheSettingAndBothNumbers) {
  using tracker::http::descriptor_shortfall;
  EXPECT_EQ(descriptor_shortfall(1000, {.soft = 1024, .hard = 4096}, "X"), "");
  EXPECT_EQ(descriptor_shortfall(4096, {.soft = 1024, .hard = 4096}, "X"), "");
  const auto message =
      descriptor_shortfall(10'320, {.soft = 1024, .hard = 4096}, "TRACKER_MAX_CONNECTIONS=10000");
  EXPECT_NE(message.find("TRACKER_MAX_CONNECTIONS=10000 needs 10320"), std::string::npos)
      << message;
  EXPECT_NE(message.find("hard limit is 4096"), std::string::npos) << message;
  // The real process: what it needs now fits, and the soft limit is raised to the hard one.
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  const auto limit = tracker::http::raise_descriptor_limit(64, "test");
  EXPECT_EQ(limit.soft, limit.hard);
  EXPECT_EQ(limit.hard, static_cast<std::uint64_t>(now.rlim_max));
  EXPECT_THROW(tracker::http::raise_descriptor_limit(limit.hard + 1, "test"), std::runtime_error);
}

// The server's own refusals carry the configured headers (ingest: x-slack-no-retry), so that a
// client that retries on errors does not send the same request again.
TEST_P(HttpServer, RefusalsCarryTheConfiguredHeaders) {
  start({.body_limit = 1024, .refusal_headers = {{"x-slack-no-retry", "1"}}});
  auto headers = run(io, [&]() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    for (const char* raw : {"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
                            "GET /a HTTP/1.1\r\n\r\n"}) {
      auto socket = co_await connect();
      co_await asio::async_write(socket, asio::buffer(std::string(raw)), asio::use_awaitable);
      boost::beast::flat_buffer buffer;
      bh::response<bh::string_body> response;
      co_await bh::async_read(socket, buffer, response, asio::use_awaitable);
      out.push_back(std::to_string(response.result_int()) + " " +
                    std::string(response["x-slack-no-retry"]));
    }
    co_return out;
  }());
  EXPECT_EQ(headers, (std::vector<std::string>{"413 1", "400 1"}));
  EXPECT_EQ(handled.load(), 0);
}

// Beast bounds headers by header_limit and chunk data by body_limit, but not a chunk's size line
// or the trailer: the server's read buffer is bounded instead (header_limit and one read), so an
// endless one is refused at once rather than held until the body timeout.
TEST_P(HttpServer, EndlessChunkLinesAndTrailersAre400NotHeldUntilTheBodyTimeout) {
  start({.header_limit = 1024, .body_timeout = 30s});
  const std::string head = "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string pad(200 * 1024, 'a');
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> out;
    for (const std::string& unfinished :
         {head + "5;ext=" + pad, head + "5\r\nhello\r\n0\r\nX-Pad: " + pad}) {
      auto socket = co_await connect();
      out.push_back(co_await exchange_within(socket, unfinished, 10s));
    }
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{400, 400}))
      << "0: no answer within 10 s (the server kept reading)";
  EXPECT_EQ(handled.load(), 0);
  EXPECT_NE(
      metrics().find(R"(tracker_http_rejected_requests_total{reason="chunk_framing_too_large"} 2)"),
      std::string::npos)
      << metrics();
}

// A client still sending a body too large to take reads its 413: the server drains what follows
// the answer (a lingering close) instead of resetting the connection under it.
TEST_P(HttpServer, ClientStillSendingATooLargeBodyReadsIts413) {
  start({.body_limit = 1024});
  auto statuses = run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> out;
    for (int i = 0; i < 5; ++i) {
      auto socket = co_await connect();
      const std::string raw = "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n" +
                              std::string(2'000'000, 'x');
      // The whole body goes out: the server reads and drops it rather than reset the
      // connection, which would fail this write before the answer could be read.
      auto written = co_await asio::async_write(socket, asio::buffer(raw),
                                                asio::as_tuple(asio::use_awaitable));
      if (std::get<0>(written)) {
        out.push_back(1U);
        continue;
      }
      boost::beast::flat_buffer buffer;
      bh::response<bh::string_body> response;
      auto read =
          co_await bh::async_read(socket, buffer, response, asio::as_tuple(asio::use_awaitable));
      out.push_back(std::get<0>(read) ? 0U : response.result_int());
    }
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{413, 413, 413, 413, 413}));
  EXPECT_EQ(handled.load(), 0);
}

TEST_P(HttpServer, ABurstOfConnectionsIsTakenWholeAndTheCapStillHolds) {
  // 300 connections, each with its request sent, wait in the listen queue before the server's
  // loop runs at all: the accept loop takes them in bursts. Every one gets an answer, and the
  // cap (100) holds across a burst: 100 served, the rest refused with 503.
  start({.max_connections = 100});
  constexpr int kConnections = 300;
  asio::io_context client_io;
  std::vector<tcp::socket> sockets;
  for (int i = 0; i < kConnections; ++i) {
    sockets.emplace_back(client_io);
    sockets.back().connect({asio::ip::make_address("127.0.0.1"), server->port()});
    asio::write(sockets.back(), asio::buffer(kGet));
  }
  auto guard = asio::make_work_guard(io);
  std::thread serving([&] { io.run(); });
  std::vector<unsigned> statuses;
  for (auto& socket : sockets) {
    boost::beast::flat_buffer buffer;
    bh::response<bh::string_body> response;
    boost::system::error_code ec;
    bh::read(socket, buffer, response, ec);
    statuses.push_back(ec ? 0U : response.result_int());
  }
  sockets.clear();
  guard.reset();
  io.stop();
  serving.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200U), 100);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 503U), kConnections - 100);
  EXPECT_EQ(handled.load(), 100);
  EXPECT_NE(metrics().find("tracker_http_connections_refused_total 200"), std::string::npos)
      << metrics();
}
