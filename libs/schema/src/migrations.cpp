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

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::schema {

namespace asio = boost::asio;

asio::awaitable<Startup> migrate_when_reachable(StartupOptions options, const bool& stop_requested,
                                                log::Logger& logger) {
  std::chrono::milliseconds backoff{250};
  for (int attempt = 1; !stop_requested; ++attempt) {
    const pg::ConnectOptions connect_options{.conninfo = options.database_url,
                                             .application_name = options.application_name};
    auto connection =
        co_await pg::Connection::connect(co_await asio::this_coro::executor, connect_options);
    if (connection) {
      const pg::MigrationOptions migration_options{
          .schema = options.db_schema.empty() ? "public" : options.db_schema};
      auto report = co_await pg::migrate(**connection, migrations(), migration_options);
      if (!report) {
        logger.error("migrations_failed", {{"error", report.error().describe()}});
        co_return Startup::failed;
      }
      logger.info("migrations_done",
                  {{"applied", report->applied}, {"already_applied", report->already_applied}});
      co_return Startup::ready;
    }
    logger.warn("database_unavailable", {{"error", connection.error().describe()},
                                         {"attempt", attempt},
                                         {"retry_in_ms", backoff.count()}});
    asio::steady_timer pause(co_await asio::this_coro::executor, backoff);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff = std::min(backoff * 2, options.retry_max);
  }
  co_return Startup::stopped;
}

}  // namespace tracker::schema
