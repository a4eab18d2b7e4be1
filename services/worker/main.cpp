// worker: study logs from the slack-events topic into PostgreSQL. Reads its settings, waits for
// the database (applying migrations), consumes until SIGTERM/SIGINT, then finishes the batches
// it holds and leaves the consumer group.
#include <csignal>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/redaction.hpp>
#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/pg/migrations.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/schema/migrations.hpp>

#include "store.hpp"
#include "worker.hpp"
#include "worker_settings.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace tracker;

namespace {

enum class Startup { ready, stopped, failed };

// Connects, migrates and checks the default time zone. A database that does not answer is
// waited for (never a crash loop); a migration the database refuses, or an unknown time zone,
// is a deployment error and stops the service.
asio::awaitable<Startup> prepare_database(const worker::Settings& settings, pg::Pool& pool,
                                          worker::Store& store, const bool& stop_requested,
                                          log::Logger& logger) {
  std::chrono::milliseconds backoff = 250ms;
  for (int attempt = 1;; ++attempt) {
    if (stop_requested) co_return Startup::stopped;
    pg::Error failure;
    if (settings.migrate) {
      const pg::ConnectOptions connect_options{.conninfo = settings.database_url,
                                               .application_name = "worker-migrate"};
      auto connection =
          co_await pg::Connection::connect(co_await asio::this_coro::executor, connect_options);
      if (connection) {
        const pg::MigrationOptions migration_options{
            .schema = settings.db_schema.empty() ? "public" : settings.db_schema};
        auto report = co_await pg::migrate(**connection, schema::migrations(), migration_options);
        if (!report) {
          logger.error("migrations_failed", {{"error", report.error().describe()}});
          co_return Startup::failed;
        }
        logger.info("migrations_done",
                    {{"applied", report->applied}, {"already_applied", report->already_applied}});
      } else {
        failure = connection.error();
      }
    }
    if (failure.message.empty()) {
      auto checked = co_await store.check_time_zone(settings.user_defaults.time_zone);
      if (checked) co_return Startup::ready;
      if (checked.error().kind == pg::Error::Kind::query) {
        logger.error("invalid_configuration",
                     {{"detail", "TRACKER_DEFAULT_TIME_ZONE: " + checked.error().describe()}});
        co_return Startup::failed;
      }
      failure = checked.error();
    }
    logger.warn("database_unavailable", {{"error", failure.describe()},
                                         {"attempt", attempt},
                                         {"retry_in_ms", backoff.count()},
                                         {"pool_reachable", pool.reachable()}});
    asio::steady_timer pause(co_await asio::this_coro::executor, backoff);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff = std::min(backoff * 2, settings.retry_max);
  }
}

}  // namespace

int main() {
  worker::Settings settings;
  try {
    config::Env env;
    settings = worker::load_settings(env);
  } catch (const config::ConfigError& error) {
    log::Logger({.service = "worker"}).error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  log::Logger logger({.service = "worker", .min_level = settings.log_level});
  logger.redact(settings.database_url);
  if (auto password = pg::conninfo_password(settings.database_url)) logger.redact(*password);

  asio::io_context io(1);
  auto registry = std::make_shared<prometheus::Registry>();
  pg::Pool pool(io.get_executor(),
                {.connect = {.conninfo = settings.database_url,
                             .application_name = "worker",
                             .query_timeout = settings.db_query_timeout,
                             .search_path = settings.db_schema},
                 .max_connections = settings.db_pool_size,
                 .acquire_timeout = settings.db_query_timeout},
                logger);
  worker::Store store(pool, settings.user_defaults);

  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<kafka::Producer> producer;
  try {
    consumer = std::make_unique<kafka::Consumer>(
        io.get_executor(),
        kafka::ConsumerOptions{
            .brokers = settings.brokers,
            .group_id = settings.group_id,
            .topics = {settings.topic},
            .client_id = "worker",
            // Bounds what librdkafka prefetches while the lanes are full.
            // librdkafka 2.0 waits a fixed second before fetching again once
            // this fills, so it must hold more than a second's work: at 16 MB
            // a backlog drained at under 10,000 events/s.
            .settings = {{"queued.max.messages.kbytes", std::to_string(settings.prefetch_kbytes)}}},
        logger);
    producer = std::make_unique<kafka::Producer>(
        kafka::ProducerOptions{.brokers = settings.brokers,
                               .client_id = "worker-dlq",
                               .message_timeout = 10s,
                               // Connected before the first dead letter, so that readiness
                               // means the broker can take one.
                               .settings = {{"enable.sparse.connections", "false"}},
                               .topics = {settings.dlq_topic}},
        logger);
  } catch (const std::exception& error) {
    logger.error("kafka_setup_failed", {{"error", error.what()}});
    return 1;
  }
  worker::Worker worker(io.get_executor(), *consumer, *producer, store, *registry, logger,
                        {.dlq_topic = settings.dlq_topic,
                         .filter = settings.filter,
                         .batch_max = settings.batch_max,
                         .batch_linger = settings.batch_linger,
                         .lanes = settings.lanes,
                         .max_buffered = settings.max_buffered,
                         .retry_max = settings.retry_max,
                         .processed_retention = settings.processed_retention,
                         .prune_interval = settings.prune_interval});

  metrics::OpsEndpoint ops(io.get_executor(), registry,
                           {.address = settings.address, .port = settings.ops_port}, logger);
  bool database_prepared = false;
  ops.add_readiness_check("postgresql",
                          [&] { return database_prepared && pool.reachable() && worker.ready(); });
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
    logger.info("shutting_down", {{"signal", signal}, {"buffered", worker.buffered()}});
    stop_requested = true;
    worker.stop(settings.shutdown_grace);
  });

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const Startup startup =
            co_await prepare_database(settings, pool, store, stop_requested, logger);
        if (startup == Startup::ready) {
          database_prepared = true;
          logger.info("started", {{"topic", settings.topic},
                                  {"group", settings.group_id},
                                  {"ops_port", ops.port()},
                                  {"batch_max_events", settings.batch_max},
                                  {"batch_linger_ms", settings.batch_linger.count()},
                                  {"inflight_batches", settings.lanes},
                                  {"watched_channels", settings.filter.channels.size()}});
          if (!co_await worker.run()) status = 1;
        } else if (startup == Startup::failed) {
          status = 1;
        }
        co_await consumer->async_close(blocking);
        const bool flushed =
            co_await async::run_blocking(blocking, [&producer] { return producer->flush(5s); });
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
          logger.error("worker_crashed", {{"error", e.what()}});
        }
        status = 1;
        io.stop();
      });
  io.run();
  return status;
}
