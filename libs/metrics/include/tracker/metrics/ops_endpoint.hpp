#pragma once
// The operations endpoint every process serves: GET /metrics (Prometheus text format: the
// registry's families plus the standard process_* metrics),
// GET /healthz (the process is alive) and GET /readyz (every readiness check passes); HEAD as
// well, without the body.
//
// It is an http::Server with the limits of a probe port: a few connections (max_connections),
// short idle and request timeouts, and, when all connections are taken, the one idle longest is
// closed for the newcomer, so that idle or trickling clients can never keep a probe out. Its own
// metrics are tracker_ops_http_* in the service's registry (evictions among them).
// It listens on loopback unless told otherwise (TRACKER_OPS_ADDRESS=0.0.0.0 in a pod, where the
// kubelet and Prometheus reach it on the pod's address).
//
// start() and stop() may be called from any thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <tracker/log/logger.hpp>

namespace tracker::http {
class Server;
}

namespace tracker::metrics {

namespace asio = boost::asio;
namespace http = boost::beast::http;

struct OpsEndpointOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 9464;  // 0: any free port, see port()
  std::size_t max_connections = 64;
  // A kept-alive connection waiting for its next request (Prometheus scrapes every 15 s or so
  // and reconnects when it has to).
  std::chrono::milliseconds idle_timeout{5'000};
  // From a request's first byte to its end, and for writing the answer.
  std::chrono::milliseconds request_timeout{5'000};
  // The prefix of the endpoint's own HTTP metrics (a service whose ops port is also its API,
  // like the scheduler's /trigger, counts them as tracker_http_*).
  std::string metric_prefix = "tracker_ops_http";
};

// A readiness check must be cheap and must not block: it reads state that other code keeps up
// to date (a flag set by a producer's statistics callback, a pool's last connect result).
using ReadinessCheck = std::function<bool()>;

// A service's own route on its ops port (the scheduler's POST /trigger). It answers every
// method; the request's body is at most 8 KiB.
using RouteHandler = std::function<asio::awaitable<http::response<http::string_body>>(
    http::request<http::string_body>& request)>;

class OpsEndpoint {
 public:
  OpsEndpoint(asio::any_io_executor executor, std::shared_ptr<prometheus::Registry> registry,
              OpsEndpointOptions options, log::Logger& logger);
  ~OpsEndpoint();
  OpsEndpoint(const OpsEndpoint&) = delete;
  OpsEndpoint& operator=(const OpsEndpoint&) = delete;

  // Call before start().
  void add_readiness_check(std::string name, ReadinessCheck check);
  // Call before start(). `path` is matched exactly, without the query string.
  void add_route(std::string path, RouteHandler handler);

  // Binds and starts accepting; throws boost::system::system_error if the address is taken.
  void start();
  // Closes the listener and every open connection. Idempotent.
  void stop();
  // Closes the listener, lets the requests in progress be answered for up to `grace` (a
  // service's own route, such as the scheduler's POST /trigger, finishes its work), then
  // closes every connection.
  asio::awaitable<void> shutdown(std::chrono::milliseconds grace);
  [[nodiscard]] std::uint16_t port() const noexcept { return bound_port_; }

  // Builds the answer to one request; exposed so tests can check routing without sockets.
  [[nodiscard]] asio::awaitable<http::response<http::string_body>> handle(
      http::request<http::string_body>& request) const;
  // The answer of the built-in routes (/metrics, /healthz, /readyz, 404).
  [[nodiscard]] http::response<http::string_body> respond(
      const http::request<http::string_body>& request) const;

  struct State;  // defined in ops_endpoint.cpp

 private:
  std::shared_ptr<State> state_;
  asio::any_io_executor executor_;
  log::Logger& logger_;
  std::mutex server_mutex_;
  std::unique_ptr<tracker::http::Server> server_;
  std::uint16_t bound_port_ = 0;
};

}  // namespace tracker::metrics
