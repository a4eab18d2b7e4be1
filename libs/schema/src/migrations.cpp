#include <tracker/schema/migrations.hpp>

#include <string>
#include <utility>

#include <boost/asio/this_coro.hpp>
#include <boost/system/result.hpp>

#include <tracker/async/retry.hpp>

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

namespace asio = boost::asio;

namespace {

// One attempt: the migrations, then each check. Ready, failed (a refusal, logged here), or the
// database's condition as the error: worth another attempt.
asio::awaitable<boost::system::result<Startup, pg::Error>> prepare_once(
    const StartupOptions& options, log::Logger& logger) {
  if (options.migrate) {
    const pg::ConnectOptions connect_options{.conninfo = options.database_url,
                                             .application_name = options.application_name};
    auto connection =
        co_await pg::Connection::connect(co_await asio::this_coro::executor, connect_options);
    if (!connection) co_return connection.error();
    const pg::MigrationOptions migration_options{
        .schema = options.db_schema.empty() ? "public" : options.db_schema};
    auto report = co_await pg::migrate(**connection, migrations(), migration_options);
    if (!report) {
      if (pg::classify(report.error()) == pg::Disposition::retryable) co_return report.error();
      logger.error("migrations_failed", {{"error", report.error().describe()}});
      co_return Startup::failed;
    }
    logger.info("migrations_done",
                {{"applied", report->applied}, {"already_applied", report->already_applied}});
  }
  for (const StartupCheck& check : options.checks) {
    auto checked = co_await check.check();
    if (checked) continue;
    if (pg::classify(checked.error()) == pg::Disposition::retryable) co_return checked.error();
    logger.error("invalid_configuration",
                 {{"detail", check.setting + ": " + checked.error().describe()}});
    co_return Startup::failed;
  }
  co_return Startup::ready;
}

}  // namespace

asio::awaitable<Startup> prepare_when_reachable(const StartupOptions& options, async::Event& stop,
                                                log::Logger& logger) {
  // Waited for as long as the database does not answer, until the stop: the service has
  // nothing to lose meanwhile, and it reports itself not ready.
  const async::RetryPolicy policy{.initial = std::chrono::milliseconds{250},
                                  .max_delay = options.retry_max,
                                  .max_attempts = async::kUnlimitedAttempts,
                                  .max_elapsed = async::kUnlimitedTime};
  async::Backoff backoff(policy);
  for (int attempt = 1; !stop.is_set(); ++attempt) {
    auto prepared = co_await prepare_once(options, logger);
    if (prepared) co_return *prepared;
    const std::chrono::milliseconds retry_in = backoff.next();
    logger.warn("database_unavailable", {{"error", prepared.error().describe()},
                                         {"attempt", attempt},
                                         {"retry_in_ms", retry_in.count()}});
    co_await stop.wait_until(std::chrono::steady_clock::now() + retry_in);
  }
  co_return Startup::stopped;
}

}  // namespace tracker::schema
