// summarizer: writes the summaries the summary-requests topic asks for and publishes them to
// slack-outbox. Reads its settings, waits for the database (applying migrations), consumes until
// SIGTERM/SIGINT, then lets the jobs in flight finish (up to TRACKER_SHUTDOWN_GRACE) and leaves
// the consumer group.
#include <csignal>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/http/client.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/llm/chat_client.hpp>
#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/schema/migrations.hpp>

#include "store.hpp"
#include "summarizer.hpp"
#include "summarizer_settings.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace tracker;

int main() {
  summarizer::Settings settings;
  try {
    config::Env env;
    settings = summarizer::load_settings(env);
  } catch (const config::ConfigError& error) {
    log::Logger({.service = "summarizer"})
        .error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  log::Logger logger({.service = "summarizer", .min_level = settings.log_level});
  logger.redact(settings.database_url);
  if (auto password = pg::conninfo_password(settings.database_url)) logger.redact(*password);
  if (!settings.api_key.empty()) logger.redact(settings.api_key.reveal());

  asio::io_context io(1);
  auto registry = std::make_shared<prometheus::Registry>();
  pg::Pool pool(io.get_executor(),
                {.connect = {.conninfo = settings.database_url,
                             .application_name = "summarizer",
                             .query_timeout = settings.db_query_timeout,
                             .search_path = settings.db_schema},
                 .max_connections = settings.db_pool_size,
                 .acquire_timeout = settings.db_query_timeout},
                logger);
  summarizer::Store store(pool);
  store.set_first_poll(settings.options.batch_poll_initial);

  std::unique_ptr<http::Client> client;
  std::unique_ptr<llm::ChatClient> chat;
  std::unique_ptr<llm::BatchApi> batches;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<kafka::Producer> producer;
  try {
    if (settings.options.provider == "openai") {
      client = std::make_unique<http::Client>(
          io.get_executor(),
          http::ClientOptions{
              .base_url = settings.openai_base_url,
              .max_connections = settings.connections,
              .request_timeout = settings.chat.request_timeout,
              // Batch output files hold every answer.
              .body_limit = settings.options.batch ? 512ULL * 1024 * 1024 : 8ULL * 1024 * 1024,
              .ca_file = settings.openai_ca_file});
      chat = std::make_unique<llm::ChatClient>(io.get_executor(), *client, settings.api_key,
                                               *registry, logger, settings.chat);
      if (settings.options.batch) {
        batches = std::make_unique<llm::BatchApi>(io.get_executor(), *client, settings.api_key);
      }
    }
    consumer = std::make_unique<kafka::Consumer>(
        io.get_executor(),
        kafka::ConsumerOptions{.brokers = settings.brokers,
                               .group_id = settings.group_id,
                               .topics = {settings.topic},
                               .client_id = "summarizer",
                               // A job can wait minutes for the model's rate limits; the
                               // consumer is polled all the while, so this is only a bound.
                               .max_poll_interval = 600s},
        logger);
    producer = std::make_unique<kafka::Producer>(
        kafka::ProducerOptions{
            .brokers = settings.brokers,
            .client_id = "summarizer",
            .message_timeout = 30s,
            .settings = {{"enable.sparse.connections", "false"}},
            .topics = {settings.options.outbox_topic, settings.options.dlq_topic}},
        logger);
  } catch (const std::exception& error) {
    logger.error("setup_failed", {{"error", error.what()}});
    return 1;
  }
  summarizer::Summarizer summarizer(io.get_executor(), *consumer, *producer, store, chat.get(),
                                    batches.get(), *registry, logger, settings.options);

  metrics::OpsEndpoint ops(io.get_executor(), registry,
                           {.address = settings.address, .port = settings.ops_port}, logger);
  bool database_prepared = false;
  ops.add_readiness_check(
      "postgresql", [&] { return database_prepared && pool.reachable() && summarizer.ready(); });
  ops.add_readiness_check("kafka",
                          [&] { return consumer->broker_up() && producer->topics_known(); });
  try {
    ops.start();
  } catch (const std::exception& error) {
    logger.error("listen_failed", {{"error", error.what()}});
    return 1;
  }

  int status = 0;
  bool stop_requested = false;
  asio::thread_pool blocking(1);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    logger.info("shutting_down", {{"signal", signal}, {"in_flight", summarizer.in_flight()}});
    stop_requested = true;
    summarizer.stop(settings.shutdown_grace);
  });

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        schema::Startup startup = schema::Startup::ready;
        if (settings.migrate) {
          // Named, not a braced temporary in the co_await: GCC 12 destroys those twice.
          const schema::StartupOptions startup_options{.database_url = settings.database_url,
                                                       .db_schema = settings.db_schema,
                                                       .application_name = "summarizer-migrate",
                                                       .retry_max = settings.options.db_retry_max};
          startup =
              co_await schema::migrate_when_reachable(startup_options, stop_requested, logger);
        }
        if (startup == schema::Startup::ready && !stop_requested) {
          database_prepared = true;
          logger.info("started",
                      {{"topic", settings.topic},
                       {"group", settings.group_id},
                       {"provider", settings.options.provider},
                       {"model",
                        settings.options.provider == "openai" ? settings.options.model : "offline"},
                       {"openai", client ? client->origin().to_string() : "none"},
                       {"ops_port", ops.port()},
                       {"max_in_flight", settings.options.max_in_flight},
                       {"batch", settings.options.batch},
                       {"rpm_limit", settings.chat.limiter.requests_per_minute},
                       {"tpm_limit", settings.chat.limiter.tokens_per_minute}});
          if (!co_await summarizer.run()) status = 1;
        } else if (startup == schema::Startup::failed) {
          status = 1;
        }
        co_await consumer->async_close(blocking);
        const bool flushed =
            co_await async::run_blocking(blocking, [&producer] { return producer->flush(10s); });
        if (client) client->shutdown();
        logger.info("stopped", {{"outbox_flushed", flushed}});
        signals.cancel();
        ops.stop();
        io.stop();
      },
      [&](const std::exception_ptr& error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          logger.error("summarizer_crashed", {{"error", e.what()}});
        }
        status = 1;
        io.stop();
      });
  io.run();
  return status;
}
