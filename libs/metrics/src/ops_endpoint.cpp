#include <tracker/metrics/ops_endpoint.hpp>

#include <iterator>
#include <mutex>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>
#include <boost/asio/dispatch.hpp>
#include <nlohmann/json.hpp>

#include <tracker/http/server.hpp>
#include <tracker/metrics/process_collector.hpp>

namespace tracker::metrics {

struct OpsEndpoint::State {
  State(std::shared_ptr<prometheus::Registry> reg, OpsEndpointOptions opts)
      : registry(std::move(reg)), options(std::move(opts)) {}

  std::shared_ptr<prometheus::Registry> registry;
  ProcessCollector process;  // process_* metrics come with every endpoint
  OpsEndpointOptions options;
  std::vector<std::pair<std::string, ReadinessCheck>> checks;  // fixed once start() is called
  std::vector<std::pair<std::string, RouteHandler>> routes;    // likewise
  std::mutex respond_mutex;  // connections are answered on their own strands

  http::response<http::string_body> respond(const http::request<http::string_body>& request);
  [[nodiscard]] const RouteHandler* route(std::string_view target) const;
  [[nodiscard]] std::string route_label(std::string_view target) const;
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

}  // namespace

const RouteHandler* OpsEndpoint::State::route(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  for (const auto& [route_path, handler] : routes) {
    if (path == route_path) return &handler;
  }
  return nullptr;
}

std::string OpsEndpoint::State::route_label(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/metrics" || path == "/healthz" || path == "/readyz") return std::string(path);
  if (route(path) != nullptr) return std::string(path);
  return "other";
}

OpsEndpoint::OpsEndpoint(asio::any_io_executor executor,
                         std::shared_ptr<prometheus::Registry> registry, OpsEndpointOptions options,
                         log::Logger& logger)
    : state_(std::make_shared<State>(std::move(registry), std::move(options))),
      executor_(std::move(executor)),
      logger_(logger) {}

OpsEndpoint::~OpsEndpoint() {
  stop();
}

void OpsEndpoint::add_readiness_check(std::string name, ReadinessCheck check) {
  state_->checks.emplace_back(std::move(name), std::move(check));
}

void OpsEndpoint::add_route(std::string path, RouteHandler handler) {
  state_->routes.emplace_back(std::move(path), std::move(handler));
}

void OpsEndpoint::start() {
  const auto& options = state_->options;
  auto server = std::make_unique<tracker::http::Server>(
      executor_,
      tracker::http::ServerOptions{
          .address = options.address,
          .port = options.port,
          .max_connections = options.max_connections,
          .header_limit = 8 * 1024,
          .body_limit = 8 * 1024,
          .idle_timeout = options.idle_timeout,
          .header_timeout = options.request_timeout,
          .body_timeout = options.request_timeout,
          .route_label =
              [state = state_](std::string_view target) { return state->route_label(target); },
          .evict_idle_when_full = true,
          .metric_prefix = options.metric_prefix},
      // The handler keeps the State, and with it the registry the server's metrics live in, as
      // long as the server's last connection.
      [state =
           state_](tracker::http::Request& request) -> asio::awaitable<tracker::http::Response> {
        if (const RouteHandler* handler = state->route(request.target())) {
          co_return co_await (*handler)(request);
        }
        co_return state->respond(request);
      },
      *state_->registry, logger_);
  server->start();  // throws if the address is taken
  bound_port_ = server->port();
  std::lock_guard lock(server_mutex_);
  server_ = std::move(server);
}

void OpsEndpoint::stop() {
  std::unique_ptr<tracker::http::Server> server;
  {
    std::lock_guard lock(server_mutex_);
    server = std::move(server_);
  }
  // The server's destructor closes the listener and every connection on their own strands.
  server.reset();
}

asio::awaitable<void> OpsEndpoint::shutdown(std::chrono::milliseconds grace) {
  tracker::http::Server* server = nullptr;
  {
    std::lock_guard lock(server_mutex_);
    server = server_.get();
  }
  if (server != nullptr) static_cast<void>(co_await server->shutdown(grace));
  stop();
}

asio::awaitable<http::response<http::string_body>> OpsEndpoint::handle(
    http::request<http::string_body>& request) const {
  if (const RouteHandler* handler = state_->route(request.target())) {
    co_return co_await (*handler)(request);
  }
  co_return state_->respond(request);
}

http::response<http::string_body> OpsEndpoint::respond(
    const http::request<http::string_body>& request) const {
  return state_->respond(request);
}

http::response<http::string_body> OpsEndpoint::State::respond(
    const http::request<http::string_body>& request) {
  std::lock_guard lock(respond_mutex);
  const unsigned version = request.version();
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
  if (!known) {
    return json_response(http::status::not_found, version,
                         {{"error", "not_found"}, {"detail", "try /metrics, /healthz or /readyz"}});
  }
  // HEAD is answered as GET; the server leaves the body out.
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    auto response = json_response(http::status::method_not_allowed, version,
                                  {{"error", "method_not_allowed"}, {"detail", "use GET"}});
    response.set(http::field::allow, "GET, HEAD");
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
  // The readiness checks as a gauge, read at each scrape: an alert can say which one fails.
  if (!checks.empty()) {
    prometheus::MetricFamily readiness;
    readiness.name = "tracker_readiness_check";
    readiness.help = "The checks of /readyz at this scrape: 1 passing, 0 failing.";
    readiness.type = prometheus::MetricType::Gauge;
    for (const auto& [name, check] : checks) {
      prometheus::ClientMetric metric;
      metric.label.push_back({"check", name});
      metric.gauge.value = check() ? 1.0 : 0.0;
      readiness.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(readiness));
  }
  auto process_families = process.Collect();
  families.insert(families.end(), std::make_move_iterator(process_families.begin()),
                  std::make_move_iterator(process_families.end()));
  prometheus::TextSerializer serializer;
  return make_response(http::status::ok, version, "text/plain; version=0.0.4; charset=utf-8",
                       serializer.Serialize(families));
}

}  // namespace tracker::metrics
