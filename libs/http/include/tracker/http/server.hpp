#pragma once
// An HTTP/1.1 server on Asio coroutines: keep-alive, one strand per connection, and every wait
// bounded:
//   - idle_timeout:   a kept-alive connection waiting for its next request;
//   - header_timeout: from the first byte of a request to the end of its headers;
//   - body_timeout:   reading the body, and writing the response;
// so a client that trickles bytes (slowloris) holds a connection for a bounded time only.
// Beyond max_connections a new connection gets a 503 and is closed, or, with
// evict_idle_when_full (probe ports), takes the place of the connection that has waited longest
// without a request. Out of descriptors, a spare one kept for the purpose lets the server still
// answer the new connection 503 and close it. Bodies over body_limit get 413 without being
// read; headers over header_limit 431.
//
// HTTP rules enforced for every handler: an HTTP/1.1 request without Host is 400 (RFC 9112
// 3.2); a transfer coding other than chunked alone is 501 (RFC 9112 6.1: codings this server
// does not decode are refused, never ignored); a response to HEAD has the headers of the GET
// response and no body (RFC 9110 9.3.2).
//
// Threads, one of two ways:
//   - one executor: run its io_context on as many threads as wanted; each connection's
//     coroutine runs on a strand of its own, and the handler is called there;
//   - event loops (async::EventLoops): one io_context per thread, each with an acceptor of its
//     own on the shared port (SO_REUSEPORT: the kernel spreads new connections over them). A
//     connection's accept, reads, timers, handler and write all run on its loop's one thread,
//     with no strand and no hop between threads. The handler's own awaits should complete there
//     too (a Kafka delivery report is posted to the executor it was awaited on). A port that
//     another process listens on is still refused at start().
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/http/responses.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::http {

namespace asio = boost::asio;

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 3000;  // 0: any free port, see port()
  std::size_t max_connections = 10'000;
  std::uint32_t header_limit = 16 * 1024;
  std::uint64_t body_limit = 1024 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{10'000};
  // Maps a request target to a metrics label; must return few distinct values.
  std::function<std::string(std::string_view target)> route_label;
  // At max_connections, close the connection idle longest (or one still reading a request
  // after the others) to make room, instead of refusing the new one: for probe and scrape
  // ports, which a handful of idle connections must not make unreachable.
  bool evict_idle_when_full = false;
  // Added to the server's own refusals of a request (413, 431, 400, 501), which a retry of the
  // same request cannot change: ingest says x-slack-no-retry: 1 so that Slack does not retry.
  std::vector<std::pair<std::string, std::string>> refusal_headers;
  // Names of the server's metrics: <prefix>_requests_total and so on. A second server in the
  // same registry (a probe port) needs a prefix of its own.
  std::string metric_prefix = "tracker_http";
};

using Handler = std::function<asio::awaitable<Response>(Request& request)>;

class Server {
 public:
  // Registers tracker_http_* metrics in `registry`.
  Server(asio::any_io_executor executor, ServerOptions options, Handler handler,
         prometheus::Registry& registry, log::Logger& logger);
  // Connections served on `loops`, each the executor of an io_context run by one thread only
  // (see above); throws std::invalid_argument when `loops` is empty.
  Server(std::vector<asio::any_io_executor> loops, ServerOptions options, Handler handler,
         prometheus::Registry& registry, log::Logger& logger);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting; throws boost::system::system_error if the address is taken.
  void start();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  // Stops accepting, lets requests in progress finish and be answered (with Connection:
  // close), closes idle connections, and waits up to `grace` for all connections to end;
  // whatever is left then is closed. Returns the number of connections closed by force.
  asio::awaitable<std::size_t> shutdown(std::chrono::milliseconds grace);

  [[nodiscard]] std::size_t open_connections() const noexcept;
  [[nodiscard]] std::size_t requests_in_flight() const noexcept;

  struct State;  // defined in server.cpp

 private:
  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
};

}  // namespace tracker::http
