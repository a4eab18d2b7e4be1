#pragma once
#include <vector>

#include <tracker/pg/migrations.hpp>

namespace tracker::schema {

// The migrations of schemas/migrations, as they were when this binary was built, in order.
const std::vector<pg::Migration>& migrations();

}  // namespace tracker::schema

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include <tracker/log/logger.hpp>

namespace tracker::schema {

enum class Startup { ready, failed, stopped };

struct StartupOptions {
  std::string database_url;
  std::string db_schema;  // empty: public
  std::string application_name = "study-tracker-migrate";
  std::chrono::milliseconds retry_max{5'000};
};

// Applies the migrations at a service's start. A database that does not answer is waited for,
// with capped backoff and a log line per attempt (never a crash loop), and so is a migration
// that fails for the database's condition (pg::Disposition::retryable: the connection broke, the
// server is shutting down); a migration the database refuses is a deployment error: failed.
// `stop_requested` is checked between attempts: it is the wait's only bound (the orchestrator's
// start-up probe stops a service that waits too long).
boost::asio::awaitable<Startup> migrate_when_reachable(StartupOptions options,
                                                       const bool& stop_requested,
                                                       log::Logger& logger);

}  // namespace tracker::schema
