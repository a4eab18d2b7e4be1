#include <tracker/schema/migrations.hpp>

#include <string>
#include <utility>

namespace tracker::schema {

namespace detail {
const std::vector<std::pair<std::string_view, std::string_view>>& migration_files();
}

const std::vector<pg::Migration>& migrations() {
  static const std::vector<pg::Migration> all = [] {
    std::vector<pg::Migration> out;
    for (const auto& [name, sql] : detail::migration_files()) {
      out.push_back(pg::parse_migration(std::string(name), std::string(sql)));
    }
    return out;
  }();
  return all;
}

}  // namespace tracker::schema

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/retry.hpp>

namespace tracker::schema {

namespace asio = boost::asio;

asio::awaitable<Startup> migrate_when_reachable(StartupOptions options, const bool& stop_requested,
                                                log::Logger& logger) {
  // Waited for as long as the database does not answer, until the stop: the service has
  // nothing to lose meanwhile, and it reports itself not ready.
  const async::RetryPolicy policy{.initial = std::chrono::milliseconds{250},
                                  .max_delay = options.retry_max,
                                  .max_attempts = async::kUnlimitedAttempts,
                                  .max_elapsed = async::kUnlimitedTime};
  async::Backoff backoff(policy);
  for (int attempt = 1; !stop_requested; ++attempt) {
    const pg::ConnectOptions connect_options{.conninfo = options.database_url,
                                             .application_name = options.application_name};
    auto connection =
        co_await pg::Connection::connect(co_await asio::this_coro::executor, connect_options);
    pg::Error failure;
    if (!connection) {
      failure = connection.error();
    } else {
      const pg::MigrationOptions migration_options{
          .schema = options.db_schema.empty() ? "public" : options.db_schema};
      auto report = co_await pg::migrate(**connection, migrations(), migration_options);
      if (report) {
        logger.info("migrations_done",
                    {{"applied", report->applied}, {"already_applied", report->already_applied}});
        co_return Startup::ready;
      }
      if (pg::classify(report.error()) != pg::Disposition::retryable) {
        logger.error("migrations_failed", {{"error", report.error().describe()}});
        co_return Startup::failed;
      }
      failure = report.error();  // the connection broke, the server is shutting down, ...
    }
    const std::chrono::milliseconds retry_in = backoff.next();
    logger.warn(
        "database_unavailable",
        {{"error", failure.describe()}, {"attempt", attempt}, {"retry_in_ms", retry_in.count()}});
    asio::steady_timer pause(co_await asio::this_coro::executor, retry_in);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return Startup::stopped;
}

}  // namespace tracker::schema
