// The HTTP server's request reading and framing rules (libs/http server.cpp), through a real
// connection: the input is written to a Server on a loopback port, the client half-closes, and
// what comes back is read to the end. Checked: every request the handler sees obeys the rules the
// server promises to enforce (body within body_limit, one Host for HTTP/1.1, no transfer coding
// but chunked), the answer is a sequence of well-formed HTTP responses with an expected status,
// nothing hangs (every read ends at the client's end of stream), and nothing escapes.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>

#include <tracker/http/responses.hpp>
#include <tracker/http/server.hpp>
#include <tracker/log/logger.hpp>

#include "fuzz_support.hpp"

namespace {

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using tcp = asio::ip::tcp;
using tracker::fuzz::require;

constexpr std::uint64_t kBodyLimit = 4096;

// The methods of the requests the handler answered, in order: a response to HEAD has no body.
std::vector<bh::verb> answered;

asio::awaitable<tracker::http::Response> handle(tracker::http::Request& request) {
  require(request.body().size() <= kBodyLimit, "handler got a body over body_limit");
  const auto hosts = request.count(bh::field::host);
  require(hosts <= 1, "handler got two Host headers");
  require(request.version() < 11 || hosts == 1, "handler got HTTP/1.1 without Host");
  if (auto coding = request.find(bh::field::transfer_encoding); coding != request.end()) {
    std::string value(coding->value());
    std::erase_if(value, [](char c) { return c == ' ' || c == '\t'; });
    for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    require(value == "chunked", "handler got a transfer coding other than chunked");
  }
  answered.push_back(request.method());
  if (request.target() == "/throw") throw std::runtime_error("handler failure");
  co_return tracker::http::json_response(
      bh::status::ok, "{\"bytes\":" + std::to_string(request.body().size()) + "}",
      request.version());
}

struct Fixture {
  asio::io_context io;
  prometheus::Registry registry;
  tracker::http::Server server;
  Fixture()
      : server(io.get_executor(),
               tracker::http::ServerOptions{
                   .address = "127.0.0.1",
                   .port = 0,
                   .max_connections = 16,
                   .header_limit = 2048,
                   .body_limit = kBodyLimit,
                   .idle_timeout = std::chrono::seconds{5},
                   .header_timeout = std::chrono::seconds{5},
                   .body_timeout = std::chrono::seconds{5},
                   .route_label = [](std::string_view) { return std::string("fuzz"); },
               },
               handle, registry, tracker::log::null_logger()) {
    server.start();
  }
};

asio::awaitable<std::string> exchange(std::uint16_t port, std::string_view input) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::address_v4::loopback(), port}, asio::use_awaitable);
  // Unread answers must not stop the write: the server answers a bad request and closes.
  auto [write_ec, written] = co_await asio::async_write(
      socket, asio::buffer(input.data(), input.size()), asio::as_tuple(asio::use_awaitable));
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  std::string answer;
  auto [read_ec, read] = co_await asio::async_read(socket, asio::dynamic_buffer(answer),
                                                   asio::as_tuple(asio::use_awaitable));
  // No TIME_WAIT on this side: the run makes millions of connections.
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
  static_cast<void>(written);
  static_cast<void>(read);
  co_return answer;
}

// One response at the start of `answer`: its length, or 0 when it is not a whole response.
std::size_t parse_response(std::string_view answer, bool head, unsigned& status) {
  bh::response_parser<bh::string_body> parser;
  parser.eager(true);
  parser.skip(head);
  parser.body_limit(1024 * 1024);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(asio::buffer(answer.data(), answer.size()), ec);
  if (ec || !parser.is_done()) return 0;
  status = parser.get().result_int();
  return used;
}

// The answer: responses, one after the other, each well-formed. A refusal by the server itself
// (the last response) may answer a HEAD request whose method the handler never saw.
void check_answer(std::string_view answer, bool any_head) {
  for (std::size_t index = 0; !answer.empty(); ++index) {
    unsigned status = 0;
    const bool head = index < answered.size() && answered[index] == bh::verb::head;
    std::size_t used = parse_response(answer, head, status);
    if (used == 0 && index >= answered.size() && any_head)
      used = parse_response(answer, true, status);
    require(used > 0, "the server's answer is not a whole HTTP response", answer.substr(0, 200));
    require(status == 200 || status == 400 || status == 413 || status == 431 || status == 500 ||
                status == 501 || status == 503,
            "unexpected status", answer.substr(0, 200));
    answer.remove_prefix(used);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture* fixture = new Fixture;  // one server for the whole run
  const auto input = tracker::fuzz::as_text(data, size);
  answered.clear();
  const std::string answer =
      tracker::fuzz::run(fixture->io, exchange(fixture->server.port(), input));
  check_answer(answer, input.find("HEAD") != std::string_view::npos);
  return 0;
}
