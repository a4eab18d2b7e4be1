// scheduler: claims the daily summaries that are due and publishes them to summary-requests.
// Reads its settings, waits for the database (applying migrations), ticks until SIGTERM/SIGINT.
// One HTTP port serves /metrics, /healthz, /readyz and POST /trigger (TRACKER_ADMIN_TOKEN).
#include <openssl/crypto.h>

#include <csignal>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/http/server.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/schema/migrations.hpp>

#include "scheduler.hpp"
#include "scheduler_settings.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using namespace tracker;

namespace {

bool token_matches(const http::Request& request, const config::Secret& token) {
  const auto it = request.find(bh::field::authorization);
  if (it == request.end()) return false;
  const std::string_view value(it->value().data(), it->value().size());
  const std::string_view prefix = "Bearer ";
  if (!value.starts_with(prefix)) return false;
  const std::string_view given = value.substr(prefix.size());
  return given.size() == token.reveal().size() &&
         CRYPTO_memcmp(given.data(), token.reveal().data(), given.size()) == 0;
}

}  // namespace

int main() {
  scheduler::Settings settings;
  try {
    config::Env env;
    settings = scheduler::load_settings(env);
  } catch (const config::ConfigError& error) {
    log::Logger({.service = "scheduler"})
        .error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  log::Logger logger({.service = "scheduler", .min_level = settings.log_level});
  logger.redact(settings.database_url);
  if (auto password = pg::conninfo_password(settings.database_url)) logger.redact(*password);
  if (!settings.admin_token.empty()) logger.redact(settings.admin_token.reveal());

  asio::io_context io(1);
  auto registry = std::make_shared<prometheus::Registry>();
  pg::Pool pool(io.get_executor(),
                {.connect = {.conninfo = settings.database_url,
                             .application_name = "scheduler",
                             .query_timeout = settings.db_query_timeout,
                             .search_path = settings.db_schema},
                 .max_connections = settings.db_pool_size,
                 .acquire_timeout = settings.db_query_timeout},
                logger);
  std::unique_ptr<kafka::Producer> producer;
  try {
    producer = std::make_unique<kafka::Producer>(
        kafka::ProducerOptions{.brokers = settings.brokers,
                               .client_id = "scheduler",
                               .message_timeout = 30s,
                               .linger = 5ms,
                               .settings = {{"enable.sparse.connections", "false"}},
                               .topics = {settings.options.topic}},
        logger);
  } catch (const std::exception& error) {
    logger.error("setup_failed", {{"error", error.what()}});
    return 1;
  }
  scheduler::Scheduler scheduler(io.get_executor(), pool, *producer, *registry, logger,
                                 settings.options);

  bool database_prepared = false;
  metrics::OpsEndpoint ops(io.get_executor(), registry, {.address = settings.address, .port = 0},
                           logger);
  ops.add_readiness_check(
      "postgresql", [&] { return database_prepared && pool.reachable() && scheduler.ready(); });
  ops.add_readiness_check("kafka", [&] { return producer->topics_known(); });
  const config::Secret admin_token = settings.admin_token;
  http::Server server(
      io.get_executor(),
      {.address = settings.address,
       .port = settings.ops_port,
       .max_connections = 256,
       // A probe port: short waits, and idle connections make room for new ones.
       .idle_timeout = std::chrono::milliseconds{5'000},
       .header_timeout = std::chrono::milliseconds{5'000},
       .route_label = [](std::string_view target) -> std::string {
         if (target.starts_with("/trigger")) return "/trigger";
         if (target.starts_with("/metrics")) return "/metrics";
         if (target.starts_with("/healthz") || target.starts_with("/readyz")) return "/health";
         return "other";
       },
       .evict_idle_when_full = true},
      [&](http::Request& request) -> asio::awaitable<http::Response> {
        const std::string_view target(request.target().data(), request.target().size());
        if (target == "/trigger" || target.starts_with("/trigger?")) {
          if (request.method() != bh::verb::post) {
            auto response =
                http::error_response(bh::status::method_not_allowed, "method_not_allowed",
                                     "POST /trigger", request.version());
            response.set(bh::field::allow, "POST");
            co_return response;
          }
          if (admin_token.empty()) {
            co_return http::error_response(bh::status::forbidden, "trigger_disabled",
                                           "TRACKER_ADMIN_TOKEN is not set", request.version());
          }
          if (!token_matches(request, admin_token)) {
            auto response = http::error_response(bh::status::unauthorized, "unauthorized",
                                                 "Authorization: Bearer <TRACKER_ADMIN_TOKEN>",
                                                 request.version());
            response.set(bh::field::www_authenticate, "Bearer");
            co_return response;
          }
          if (!database_prepared) {
            co_return http::error_response(bh::status::service_unavailable, "starting",
                                           "the database is not ready yet", request.version());
          }
          co_return co_await scheduler.handle_trigger(request);
        }
        co_return ops.respond(request);
      },
      *registry, logger);
  try {
    server.start();
  } catch (const std::exception& error) {
    logger.error("listen_failed", {{"error", error.what()}, {"port", settings.ops_port}});
    return 1;
  }

  int status = 0;
  bool stop_requested = false;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    logger.info("shutting_down", {{"signal", signal}});
    stop_requested = true;
    scheduler.stop(0ms);
  });

  asio::thread_pool blocking(1);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        schema::Startup startup = schema::Startup::ready;
        if (settings.migrate) {
          // Named, not a braced temporary in the co_await: GCC 12 destroys those twice.
          const schema::StartupOptions startup_options{.database_url = settings.database_url,
                                                       .db_schema = settings.db_schema,
                                                       .application_name = "scheduler-migrate",
                                                       .retry_max = settings.options.db_retry_max};
          startup =
              co_await schema::migrate_when_reachable(startup_options, stop_requested, logger);
        }
        if (startup == schema::Startup::ready && !stop_requested) {
          database_prepared = true;
          logger.info("started", {{"topic", settings.options.topic},
                                  {"instance", settings.options.instance},
                                  {"port", server.port()},
                                  {"tick_interval_ms", settings.options.tick_interval.count()},
                                  {"catch_up_window_ms", settings.options.catch_up_window.count()},
                                  {"require_activity", settings.options.require_activity},
                                  {"trigger", admin_token.empty() ? "disabled" : "enabled"}});
          if (!co_await scheduler.run()) status = 1;
        } else if (startup == schema::Startup::failed) {
          status = 1;
        }
        const bool flushed =
            co_await async::run_blocking(blocking, [&producer] { return producer->flush(10s); });
        static_cast<void>(co_await server.shutdown(2s));
        logger.info("stopped", {{"requests_flushed", flushed}});
        signals.cancel();
        io.stop();
      },
      [&](const std::exception_ptr& error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          logger.error("scheduler_crashed", {{"error", e.what()}});
        }
        status = 1;
        io.stop();
      });
  io.run();
  return status;
}
