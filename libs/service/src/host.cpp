#include <tracker/service/host.hpp>

#include <csignal>
#include <stdexcept>
#include <thread>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/log/redaction.hpp>
#include <tracker/schema/migrations.hpp>

namespace tracker::service {

using namespace std::chrono_literals;

void report_bad_configuration(const std::string& service, const std::string& detail) {
  log::Logger({.service = service}).error("invalid_configuration", {{"detail", detail}});
}

Host::Host(std::string name, Settings settings)
    : name_(std::move(name)),
      settings_(std::move(settings)),
      logger_({.service = name_, .min_level = settings_.log_level}),
      registry_(std::make_shared<prometheus::Registry>()) {
  ops_options_.address = settings_.ops_address;
  ops_options_.port = settings_.ops_port;
  if (settings_.database) {
    const DatabaseSettings& db = *settings_.database;
    logger_.redact(db.url);
    if (auto password = pg::conninfo_password(db.url)) logger_.redact(*password);
    pool_ =
        std::make_unique<pg::Pool>(io_.get_executor(),
                                   pg::PoolOptions{.connect = {.conninfo = db.url,
                                                               .application_name = name_,
                                                               .query_timeout = db.query_timeout,
                                                               .search_path = db.schema},
                                                   .max_connections = db.pool_size,
                                                   .acquire_timeout = db.query_timeout},
                                   logger_);
  }
}

Host::~Host() {
  // No loop thread may still run the service's handlers while its objects go (run() stops the
  // loops as it ends; this covers the ways out of it that skip that).
  if (loops_) loops_->stop();
  // The service's objects first (they hold references to the clients and the pool), newest
  // first.
  while (!objects_.empty()) objects_.pop_back();
}

std::vector<asio::any_io_executor> Host::event_loops() {
  if (!loops_) {
    loops_ = std::make_unique<async::EventLoops>(static_cast<std::size_t>(settings_.io_threads));
  }
  return loops_->executors();
}

pg::Pool& Host::pool() {
  if (!pool_) throw std::logic_error(name_ + " has no database");
  return *pool_;
}

void Host::redact(const config::Secret& value) {
  if (!value.empty()) logger_.redact(value.reveal());
}

kafka::Consumer& Host::consumer(kafka::ConsumerOptions options) {
  consumers_.push_back(
      std::make_unique<kafka::Consumer>(io_.get_executor(), std::move(options), logger_));
  return *consumers_.back();
}

kafka::Producer& Host::producer(kafka::ProducerOptions options,
                                std::chrono::milliseconds flush_timeout) {
  producers_.push_back(
      {std::make_unique<kafka::Producer>(std::move(options), logger_), flush_timeout});
  return *producers_.back().producer;
}

http::Client& Host::http_client(http::ClientOptions options) {
  http_clients_.push_back(std::make_unique<http::Client>(io_.get_executor(), std::move(options)));
  return *http_clients_.back();
}

void Host::add_startup_check(std::string setting, StartupCheck check) {
  startup_checks_.push_back({std::move(setting), std::move(check)});
}

void Host::add_route(std::string path, metrics::RouteHandler handler) {
  routes_.emplace_back(std::move(path), std::move(handler));
}

bool Host::clients_ready() const {
  for (const auto& consumer : consumers_) {
    if (!consumer->broker_up()) return false;
  }
  for (const auto& owned : producers_) {
    if (!owned.producer->topics_known()) return false;
  }
  return true;
}

asio::awaitable<schema::Startup> Host::prepare_database() {
  const DatabaseSettings& db = *settings_.database;
  const schema::StartupOptions options{.database_url = db.url,
                                       .db_schema = db.schema,
                                       .application_name = name_ + "-migrate",
                                       .retry_max = db.retry_max,
                                       .migrate = db.migrate,
                                       .checks = startup_checks_};
  co_return co_await schema::prepare_when_reachable(options, stop_requested_, logger_);
}

asio::awaitable<void> Host::close_clients() {
  for (auto& consumer : consumers_) co_await consumer->async_close(blocking_);
  bool flushed = true;
  for (auto& owned : producers_) {
    kafka::Producer& producer = *owned.producer;
    const std::chrono::milliseconds timeout = owned.flush_timeout;
    flushed = co_await async::run_blocking(
                  blocking_, [&producer, timeout] { return producer.flush(timeout); }) &&
              flushed;
  }
  for (auto& client : http_clients_) client->shutdown();
  logger_.info("stopped", {{"producers_flushed", flushed}});
}

int Host::run(const std::function<Component(Host&)>& build) {
  Component component;
  try {
    component = build(*this);
  } catch (const config::ConfigError& error) {
    logger_.error("invalid_configuration", {{"detail", error.what()}});
    return kExitBadConfiguration;
  } catch (const std::exception& error) {
    logger_.error("setup_failed", {{"error", error.what()}});
    return kExitFailed;
  }

  metrics::OpsEndpoint ops(io_.get_executor(), registry_, ops_options_, logger_);
  for (auto& [path, handler] : routes_) ops.add_route(path, handler);
  const bool has_database = settings_.database.has_value();
  if (has_database) {
    ops.add_readiness_check("postgresql", [this, &component] {
      return database_ready_ && pool_->reachable() && component.ready();
    });
    ops.add_readiness_check("kafka", [this] { return clients_ready(); });
  } else {
    ops.add_readiness_check("kafka",
                            [this, &component] { return clients_ready() && component.ready(); });
  }
  try {
    ops.start();
    if (component.listen) component.listen();
  } catch (const std::exception& error) {
    logger_.error("listen_failed", {{"error", error.what()}});
    return kExitFailed;
  }

  int status = kExitOk;
  // The start, the signal and the shutdown run on one strand; the component's own work runs
  // wherever it chooses (ingest's connections on the event loops).
  const auto strand = asio::make_strand(io_);
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait(
      asio::bind_executor(strand, [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        nlohmann::json fields = component.status ? component.status() : nlohmann::json::object();
        fields["signal"] = signal;
        logger_.info("shutting_down", fields);
        stop_requested_.set();
        component.stop(settings_.shutdown_grace);
      }));

  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        const schema::Startup startup =
            has_database ? co_await prepare_database() : schema::Startup::ready;
        if (startup == schema::Startup::ready && !stop_requested_.is_set()) {
          database_ready_ = has_database;
          nlohmann::json fields = component.started;
          fields["ops_port"] = ops.port();
          if (component.port) fields["port"] = component.port();
          logger_.info("started", fields);
          if (!co_await component.run()) status = kExitFailed;
        } else if (startup == schema::Startup::failed) {
          status = kExitFailed;
        }
        co_await close_clients();
        signals.cancel();
        // Requests in progress on the ops port (the scheduler's /trigger) are answered first.
        co_await ops.shutdown(std::chrono::seconds{2});
        io_.stop();
      },
      [&](const std::exception_ptr& error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          logger_.error("crashed", {{"error", e.what()}});
        }
        status = kExitFailed;
        io_.stop();
      });

  io_.run();
  if (loops_) loops_->stop();
  return status;
}

}  // namespace tracker::service
