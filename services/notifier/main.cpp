// notifier: posts the slack-outbox topic's messages to Slack. Reads its settings, waits for
// the database (applying migrations), consumes until SIGTERM/SIGINT, then lets the channels
// finish what they hold (up to TRACKER_SHUTDOWN_GRACE) and leaves the consumer group.
#include <csignal>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/http/client.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/redaction.hpp>
#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/schema/migrations.hpp>
#include <tracker/slack/web_api.hpp>

#include "ledger.hpp"
#include "notifier.hpp"
#include "notifier_settings.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace tracker;

int main() {
  notifier::Settings settings;
  try {
    config::Env env;
    settings = notifier::load_settings(env);
  } catch (const config::ConfigError& error) {
    log::Logger({.service = "notifier"}).error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  log::Logger logger({.service = "notifier", .min_level = settings.log_level});
  logger.redact(settings.database_url);
  if (auto password = pg::conninfo_password(settings.database_url)) logger.redact(*password);
  logger.redact(settings.bot_token.reveal());

  asio::io_context io(1);
  auto registry = std::make_shared<prometheus::Registry>();
  pg::Pool pool(io.get_executor(),
                {.connect = {.conninfo = settings.database_url,
                             .application_name = "notifier",
                             .query_timeout = settings.db_query_timeout,
                             .search_path = settings.db_schema},
                 .max_connections = settings.db_pool_size,
                 .acquire_timeout = settings.db_query_timeout},
                logger);
  notifier::DeliveryLedger ledger(pool);

  std::unique_ptr<http::Client> client;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<kafka::Producer> producer;
  try {
    client = std::make_unique<http::Client>(
        io.get_executor(), http::ClientOptions{.base_url = settings.slack_base_url,
                                               .max_connections = settings.connections,
                                               .request_timeout = settings.request_timeout,
                                               .ca_file = settings.slack_ca_file});
    consumer = std::make_unique<kafka::Consumer>(
        io.get_executor(),
        kafka::ConsumerOptions{.brokers = settings.brokers,
                               .group_id = settings.group_id,
                               .topics = {settings.topic},
                               .client_id = "notifier",
                               // Posting is paced at a few per second: a small prefetch is
                               // plenty, and it bounds what a paused consumer still hands over.
                               .settings = {{"queued.max.messages.kbytes", "2048"}}},
        logger);
    producer = std::make_unique<kafka::Producer>(
        kafka::ProducerOptions{.brokers = settings.brokers,
                               .client_id = "notifier-dlq",
                               .message_timeout = 10s,
                               .settings = {{"enable.sparse.connections", "false"}},
                               .topics = {settings.options.dlq_topic}},
        logger);
  } catch (const std::exception& error) {
    logger.error("setup_failed", {{"error", error.what()}});
    return 1;
  }
  slack::WebApi slack(*client, settings.bot_token);
  notifier::Notifier notifier(io.get_executor(), *consumer, *producer, slack, ledger, *registry,
                              logger, settings.options);

  metrics::OpsEndpoint ops(io.get_executor(), registry,
                           {.address = settings.address, .port = settings.ops_port}, logger);
  bool database_prepared = false;
  ops.add_readiness_check(
      "postgresql", [&] { return database_prepared && pool.reachable() && notifier.ready(); });
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
    logger.info("shutting_down", {{"signal", signal}, {"buffered", notifier.buffered()}});
    stop_requested = true;
    notifier.stop(settings.shutdown_grace);
  });

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        schema::Startup startup = schema::Startup::ready;
        if (settings.migrate) {
          // Named, not a braced temporary in the co_await: GCC 12 destroys those twice.
          const schema::StartupOptions startup_options{.database_url = settings.database_url,
                                                       .db_schema = settings.db_schema,
                                                       .application_name = "notifier-migrate",
                                                       .retry_max = settings.options.db_retry_max};
          startup =
              co_await schema::migrate_when_reachable(startup_options, stop_requested, logger);
        }
        if (startup == schema::Startup::ready && !stop_requested) {
          database_prepared = true;
          logger.info("started",
                      {{"topic", settings.topic},
                       {"group", settings.group_id},
                       {"instance", settings.options.instance},
                       {"lease_ms", settings.options.lease.duration().count()},
                       {"slack", client->origin().to_string()},
                       {"ops_port", ops.port()},
                       {"channel_per_minute", settings.options.pacing.channel_per_second * 60},
                       {"workspace_per_minute", settings.options.pacing.workspace_per_minute},
                       {"max_attempts", settings.options.max_attempts}});
          if (!co_await notifier.run()) status = 1;
        } else if (startup == schema::Startup::failed) {
          status = 1;
        }
        co_await consumer->async_close(blocking);
        const bool flushed =
            co_await async::run_blocking(blocking, [&producer] { return producer->flush(5s); });
        client->shutdown();
        logger.info("stopped", {{"dead_letters_flushed", flushed}});
        signals.cancel();
        ops.stop();
        io.stop();
      },
      [&](const std::exception_ptr& error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          logger.error("notifier_crashed", {{"error", e.what()}});
        }
        status = 1;
        io.stop();
      });
  io.run();
  return status;
}
