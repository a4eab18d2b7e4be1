// Applies the bundled migrations to DATABASE_URL (schema TRACKER_DB_SCHEMA, default public).
// Safe to run from several processes at once: each migration is applied exactly once.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/log/redaction.hpp>
#include <tracker/pg/connection.hpp>
#include <tracker/pg/migrations.hpp>
#include <tracker/schema/migrations.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int main() {
  tracker::log::Logger logger({.service = "tracker-migrate"});
  std::string url;
  std::string schema;
  std::chrono::milliseconds connect_for{};
  try {
    tracker::config::Env env;
    url = env.required("DATABASE_URL");
    schema = env.optional("TRACKER_DB_SCHEMA", "public");
    connect_for = env.duration("TRACKER_DB_CONNECT_WAIT", 30s, 0ms, 10min);
    env.finish();
  } catch (const tracker::config::ConfigError& error) {
    logger.error("invalid_configuration", {{"detail", error.what()}});
    return 2;
  }
  logger.redact(url);
  if (auto password = tracker::pg::conninfo_password(url)) logger.redact(*password);

  asio::io_context io;
  int status = 1;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // The database may still be starting: retry connecting, bounded by TRACKER_DB_CONNECT_WAIT.
        const auto until = std::chrono::steady_clock::now() + connect_for;
        for (int attempt = 1;; ++attempt) {
          // Options are named locals: GCC 12 miscompiles braced aggregate temporaries inside a
          // co_await expression (double destruction).
          const tracker::pg::ConnectOptions connect_options{.conninfo = url,
                                                            .application_name = "tracker-migrate"};
          auto connection = co_await tracker::pg::Connection::connect(
              co_await asio::this_coro::executor, connect_options);
          if (connection) {
            const tracker::pg::MigrationOptions migration_options{.schema = schema};
            auto report = co_await tracker::pg::migrate(**connection, tracker::schema::migrations(),
                                                        migration_options);
            if (!report) {
              logger.error("migrations_failed", {{"error", report.error().describe()}});
              co_return;
            }
            logger.info("migrations_done", {{"schema", schema},
                                            {"applied", report->applied},
                                            {"already_applied", report->already_applied},
                                            {"unknown_to_this_build", report->unknown}});
            status = 0;
            co_return;
          }
          if (std::chrono::steady_clock::now() >= until) {
            logger.error("database_unreachable",
                         {{"error", connection.error().describe()},
                          {"attempts", attempt},
                          {"database", tracker::log::redact_connection_string(url)}});
            co_return;
          }
          asio::steady_timer pause(co_await asio::this_coro::executor, 500ms);
          co_await pause.async_wait(asio::use_awaitable);
        }
      },
      [&](std::exception_ptr error) {
        if (error) {
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            logger.error("migrations_crashed", {{"error", e.what()}});
          }
        }
      });
  io.run();
  return status;
}
