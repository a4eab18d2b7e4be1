// hello-server: the fastest a Boost.Beast HTTP/1.1 server answers on this machine. Every request
// gets 200 {"ok":true}; it exists so that a real service's numbers can be read against the
// ceiling of the same stack (Beast on Asio coroutines) on the same box.
//
//   hello-server [--port 0] [--threads 1]
//
// Listens on 127.0.0.1 only; --port 0 picks a free port. Prints "listening on 127.0.0.1:PORT"
// once accepting, and stops on SIGINT/SIGTERM.
#include <sys/resource.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::uint64_t kBodyLimit = 1024 * 1024;
// A connection that sends nothing for this long is closed, so idle clients cannot pile up.
constexpr auto kIdleTimeout = std::chrono::seconds(60);

asio::awaitable<void> serve(beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    // A fresh parser per request, so the body limit applies to each request on its own.
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    stream.expires_after(kIdleTimeout);
    auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (read_ec) break;  // end_of_stream, timeout, reset, body limit: nothing to answer
    const auto& req = parser.get();
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "hello-server");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = R"({"ok":true})";
    res.prepare_payload();
    auto [write_ec, write_n] = co_await http::async_write(stream, res, kTuple);
    if (write_ec || !res.keep_alive()) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, int threads) {
  auto& io = static_cast<asio::io_context&>(acceptor.get_executor().context());
  asio::steady_timer backoff(acceptor.get_executor());
  for (;;) {
    // With one thread every session shares the io_context; with more, each gets a strand.
    asio::any_io_executor session_executor = io.get_executor();
    if (threads > 1) session_executor = asio::make_strand(io);
    auto [ec, socket] = co_await acceptor.async_accept(session_executor, kTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or similar: wait a little rather than spin or stop serving.
      std::fprintf(stderr, "hello-server: accept: %s\n", ec.message().c_str());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(session_executor, serve(beast::tcp_stream(std::move(socket))), asio::detached);
  }
}

int parse_flag(int argc, char** argv, std::string_view name, int fallback, int min, int max) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name != argv[i]) continue;
    const std::string_view text = argv[i + 1];
    int value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || value < min || value > max) {
      std::fprintf(stderr, "hello-server: %s must be an integer in [%d, %d]\n", argv[i], min, max);
      std::exit(2);
    }
    return value;
  }
  return fallback;
}

void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i += 2) {
    const std::string_view arg = argv[i];
    if ((arg != "--port" && arg != "--threads") || i + 1 >= argc) {
      std::fprintf(stderr, "usage: hello-server [--port 0] [--threads 1]\n");
      return 2;
    }
  }
  const int port = parse_flag(argc, argv, "--port", 0, 0, 65535);
  const int threads = parse_flag(argc, argv, "--threads", 1, 1, 64);
  raise_descriptor_limit();

  asio::io_context io(threads);
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(io, accept_loop(acceptor, threads), asio::detached);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code&, int) {
    error_code ignored;
    acceptor.close(ignored);
    io.stop();
  });

  std::printf("listening on 127.0.0.1:%u\n",
              static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  std::vector<std::thread> extra;
  for (int t = 1; t < threads; ++t) extra.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : extra) t.join();
  std::printf("hello-server: stopped\n");
  return 0;
}
