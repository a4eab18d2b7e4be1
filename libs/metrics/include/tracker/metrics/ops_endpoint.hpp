#pragma once
// The operations endpoint every process serves: GET /metrics (Prometheus text format: the
// registry's families plus the standard process_* metrics),
// GET /healthz (the process is alive) and GET /readyz (every readiness check passes).
//
// All state lives on one strand made from the executor given to the constructor; start() and
// stop() may be called from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <tracker/log/logger.hpp>

namespace tracker::metrics {

namespace asio = boost::asio;
namespace http = boost::beast::http;

struct OpsEndpointOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 9464;  // 0: any free port, see port()
  std::size_t max_connections = 64;
  std::chrono::seconds request_timeout{10};
};

// A readiness check must be cheap and must not block: it reads state that other code keeps up
// to date (a flag set by a producer's statistics callback, a pool's last connect result).
using ReadinessCheck = std::function<bool()>;

class OpsEndpoint {
 public:
  OpsEndpoint(asio::any_io_executor executor, std::shared_ptr<prometheus::Registry> registry,
              OpsEndpointOptions options, log::Logger& logger);
  ~OpsEndpoint();
  OpsEndpoint(const OpsEndpoint&) = delete;
  OpsEndpoint& operator=(const OpsEndpoint&) = delete;

  // Call before start().
  void add_readiness_check(std::string name, ReadinessCheck check);

  // Binds and starts accepting; throws boost::system::system_error if the address is taken.
  void start();
  // Closes the listener and every open connection.
  void stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return bound_port_; }

  // Builds the answer to one request; exposed so tests can check routing without sockets.
  [[nodiscard]] http::response<http::string_body> respond(
      const http::request<http::string_body>& request) const;

  struct State;  // defined in ops_endpoint.cpp

 private:
  std::shared_ptr<State> state_;
  std::uint16_t bound_port_ = 0;
};

}  // namespace tracker::metrics
