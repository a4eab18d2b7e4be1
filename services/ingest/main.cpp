// ingest: the Slack Events API endpoint. Reads its settings, builds the objects, runs the
// io_context on TRACKER_IO_THREADS threads, and shuts down cleanly on SIGTERM/SIGINT.
#include <csignal>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/http/descriptors.hpp>
#include <tracker/http/server.hpp>
#include <tracker/metrics/ops_endpoint.hpp>

#include "ingest_handler.hpp"
#include "kafka_publisher.hpp"
#include "settings.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace tracker;

int main() {
  ingest::Settings settings;
  try {
    config::Env env;
    settings = ingest::load_settings(env);
  } catch (const config::ConfigError& error) {
    log::Logger({.service = "ingest"}).error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  log::Logger logger({.service = "ingest", .min_level = settings.log_level});
  logger.redact(settings.signing_secret.reveal());
  if (!settings.previous_signing_secret.empty())
    logger.redact(settings.previous_signing_secret.reveal());

  // Every connection is a descriptor: the cap's promise (a 503 beyond it) holds only if the
  // process may open that many and more.
  try {
    const metrics::OpsEndpointOptions ops_defaults;
    const auto limit = http::raise_descriptor_limit(
        settings.max_connections + ops_defaults.max_connections + http::kDescriptorHeadroom,
        "TRACKER_MAX_CONNECTIONS=" + std::to_string(settings.max_connections) + " (with " +
            std::to_string(ops_defaults.max_connections + http::kDescriptorHeadroom) +
            " for the ops port, Kafka and the rest)");
    logger.debug("descriptor_limit", {{"soft", limit.soft}, {"hard", limit.hard}});
  } catch (const std::exception& error) {
    logger.error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }

  asio::io_context io(settings.io_threads);
  auto registry = std::make_shared<prometheus::Registry>();
  kafka::Producer producer({.brokers = settings.brokers,
                            .client_id = "ingest",
                            .queue_max_messages = settings.producer_queue_messages,
                            .topics = {settings.topic}},
                           logger);
  ingest::KafkaPublisher publisher(producer, settings.publish_deadline);
  ingest::IngestHandler handler(
      slack::SignatureVerifier(settings.signing_secret, settings.previous_signing_secret),
      publisher, settings.topic, *registry, logger);
  http::Server server(
      io.get_executor(),
      {.address = settings.address,
       .port = settings.port,
       .max_connections = settings.max_connections,
       .body_limit = settings.max_body_bytes,
       .idle_timeout = settings.idle_timeout,
       .header_timeout = settings.header_timeout,
       .body_timeout = settings.body_timeout,
       .route_label = &ingest::IngestHandler::route_label,
       .refusal_headers = {{"x-slack-no-retry", "1"}}},
      [&handler](http::Request& request) { return handler.handle(request); }, *registry, logger);
  metrics::OpsEndpoint ops(io.get_executor(), registry,
                           {.address = settings.ops_address, .port = settings.ops_port}, logger);
  ops.add_readiness_check("kafka", [&publisher] { return publisher.ready(); });

  try {
    server.start();
    ops.start();
  } catch (const std::exception& error) {
    logger.error("listen_failed", {{"error", error.what()}});
    return 1;
  }

  asio::thread_pool blocking(1);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    asio::co_spawn(
        io,
        [&, signal]() -> asio::awaitable<void> {
          logger.info("shutting_down", {{"signal", signal}});
          const std::size_t forced = co_await server.shutdown(settings.shutdown_grace);
          // Everything acknowledged is already durable; this only waits for sends whose
          // requests were answered 503 meanwhile.
          const bool flushed =
              co_await async::run_blocking(blocking, [&producer] { return producer.flush(5s); });
          logger.info("stopped",
                      {{"connections_closed_by_force", forced}, {"producer_flushed", flushed}});
          ops.stop();
          io.stop();
        },
        asio::detached);
  });

  logger.info("started", {{"port", server.port()},
                          {"ops_port", ops.port()},
                          {"topic", settings.topic},
                          {"io_threads", settings.io_threads},
                          {"publish_deadline_ms", settings.publish_deadline.count()}});
  std::vector<std::jthread> threads;
  for (int i = 1; i < settings.io_threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& thread : threads) thread.join();
  return 0;
}
