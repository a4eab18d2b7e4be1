#include <tracker/metrics/ops_endpoint.hpp>

#include <iterator>

#include <tracker/metrics/process_collector.hpp>

#include <set>

#include <prometheus/text_serializer.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/version.hpp>
#include <nlohmann/json.hpp>

namespace tracker::metrics {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Everything here is touched only on `strand`.
struct OpsEndpoint::State {
  State(asio::any_io_executor executor, std::shared_ptr<prometheus::Registry> reg,
        OpsEndpointOptions opts, log::Logger& log)
      : strand(asio::make_strand(executor)),
        acceptor(strand),
        registry(std::move(reg)),
        options(std::move(opts)),
        logger(log) {}

  asio::strand<asio::any_io_executor> strand;
  tcp::acceptor acceptor;
  std::shared_ptr<prometheus::Registry> registry;
  ProcessCollector process;  // process_* metrics come with every endpoint
  OpsEndpointOptions options;
  log::Logger& logger;
  std::vector<std::pair<std::string, ReadinessCheck>> checks;
  std::set<std::shared_ptr<beast::tcp_stream>> connections;
  bool stopped = false;

  http::response<http::string_body> respond(const http::request<http::string_body>& request);
};

namespace {

http::response<http::string_body> make_response(http::status status, unsigned version,
                                                std::string content_type, std::string body) {
  http::response<http::string_body> response{status, version};
  response.set(http::field::server, "study-tracker");
  response.set(http::field::content_type, std::move(content_type));
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

http::response<http::string_body> json_response(http::status status, unsigned version,
                                                const nlohmann::json& body) {
  return make_response(status, version, "application/json", body.dump() + "\n");
}

// The coroutines below hold the State, never the OpsEndpoint: they may outlive it by the time
// it takes stop() to reach the strand.
asio::awaitable<void> serve_connection(std::shared_ptr<OpsEndpoint::State> state,
                                       std::shared_ptr<beast::tcp_stream> stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(8 * 1024);
    parser.header_limit(8 * 1024);
    stream->expires_after(state->options.request_timeout);
    auto [read_ec, n] =
        co_await http::async_read(*stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (read_ec || state->stopped) break;  // closed, timed out, malformed, or shutting down
    const auto& request = parser.get();
    auto response = state->respond(request);
    response.keep_alive(request.keep_alive());
    auto [write_ec, m] =
        co_await http::async_write(*stream, response, asio::as_tuple(asio::use_awaitable));
    if (write_ec || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  state->connections.erase(stream);
}

asio::awaitable<void> accept_loop(std::shared_ptr<OpsEndpoint::State> state) {
  while (!state->stopped) {
    auto [ec, socket] = co_await state->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (state->stopped) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || state->stopped) break;
      state->logger.warn("ops_accept_failed", {{"error", ec.message()}});
      continue;
    }
    if (state->connections.size() >= state->options.max_connections) {
      // Refuse rather than queue: a scraper that cannot get in retries on its next interval.
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    state->connections.insert(stream);
    asio::co_spawn(state->strand, serve_connection(state, stream), asio::detached);
  }
}

}  // namespace

OpsEndpoint::OpsEndpoint(asio::any_io_executor executor,
                         std::shared_ptr<prometheus::Registry> registry, OpsEndpointOptions options,
                         log::Logger& logger)
    : state_(std::make_shared<State>(std::move(executor), std::move(registry), std::move(options),
                                     logger)) {}

OpsEndpoint::~OpsEndpoint() {
  stop();
}

void OpsEndpoint::add_readiness_check(std::string name, ReadinessCheck check) {
  state_->checks.emplace_back(std::move(name), std::move(check));
}

void OpsEndpoint::start() {
  const tcp::endpoint at{asio::ip::make_address(state_->options.address), state_->options.port};
  state_->acceptor.open(at.protocol());
  state_->acceptor.set_option(asio::socket_base::reuse_address(true));
  state_->acceptor.bind(at);
  state_->acceptor.listen(asio::socket_base::max_listen_connections);
  bound_port_ = state_->acceptor.local_endpoint().port();
  state_->logger.info("ops_endpoint_listening",
                      {{"address", state_->options.address}, {"port", bound_port_}});
  asio::co_spawn(state_->strand, accept_loop(state_), asio::detached);
}

void OpsEndpoint::stop() {
  asio::dispatch(state_->strand, [state = state_] {
    if (state->stopped) return;
    state->stopped = true;
    beast::error_code ignored;
    state->acceptor.close(ignored);
    for (const auto& stream : state->connections) stream->socket().close(ignored);
  });
}

http::response<http::string_body> OpsEndpoint::respond(
    const http::request<http::string_body>& request) const {
  return state_->respond(request);
}

http::response<http::string_body> OpsEndpoint::State::respond(
    const http::request<http::string_body>& request) {
  const unsigned version = request.version();
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
  if (!known) {
    return json_response(http::status::not_found, version,
                         {{"error", "not_found"}, {"detail", "try /metrics, /healthz or /readyz"}});
  }
  if (request.method() != http::verb::get) {
    auto response = json_response(http::status::method_not_allowed, version,
                                  {{"error", "method_not_allowed"}, {"detail", "use GET"}});
    response.set(http::field::allow, "GET");
    return response;
  }
  if (path == "/healthz") {
    return json_response(http::status::ok, version, {{"status", "ok"}});
  }
  if (path == "/readyz") {
    nlohmann::json results = nlohmann::json::object();
    bool ready = true;
    for (const auto& [name, check] : checks) {
      const bool passed = check();
      results[name] = passed ? "ok" : "failing";
      ready = ready && passed;
    }
    return json_response(ready ? http::status::ok : http::status::service_unavailable, version,
                         {{"status", ready ? "ready" : "not_ready"}, {"checks", results}});
  }
  auto families = registry->Collect();
  auto process_families = process.Collect();
  families.insert(families.end(), std::make_move_iterator(process_families.begin()),
                  std::make_move_iterator(process_families.end()));
  prometheus::TextSerializer serializer;
  return make_response(http::status::ok, version, "text/plain; version=0.0.4; charset=utf-8",
                       serializer.Serialize(families));
}

}  // namespace tracker::metrics
