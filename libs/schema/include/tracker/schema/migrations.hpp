#pragma once
#include <vector>

#include <tracker/pg/migrations.hpp>

namespace tracker::schema {

// The migrations of schemas/migrations, as they were when this binary was built, in order.
const std::vector<pg::Migration>& migrations();

}  // namespace tracker::schema

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include <tracker/async/event.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/pg/error.hpp>

namespace tracker::schema {

enum class Startup { ready, failed, stopped };

// A check of the service's settings against the database (a time zone it knows), run once the
// migrations are applied; `setting` names the variable for the error line.
struct StartupCheck {
  std::string setting;
  std::function<boost::asio::awaitable<pg::Result<void>>()> check;
};

struct StartupOptions {
  std::string database_url;
  std::string db_schema;  // empty: public
  std::string application_name = "study-tracker-migrate";
  std::chrono::milliseconds retry_max{5'000};
  bool migrate = true;  // TRACKER_MIGRATE_ON_START: false leaves the schema to tracker-migrate
  std::vector<StartupCheck> checks;
};

// Prepares the database at a service's start: applies the migrations (when `migrate`), then runs
// the checks. A database that does not answer is waited for, with capped backoff and a log line
// per attempt (never a crash loop), and so is any step that fails for the database's condition
// (pg::Disposition::retryable: the connection broke, the server is shutting down); the next
// attempt starts over (applied migrations are skipped). A migration the database refuses is a
// deployment error ("migrations_failed"), a check it refuses a bad setting
// ("invalid_configuration" naming it): failed. `stop` (set by the service's shutdown) ends the
// wait at once, between attempts or during a pause: it is the wait's only bound (the
// orchestrator's start-up probe stops a service that waits too long). On its executor only.
boost::asio::awaitable<Startup> prepare_when_reachable(const StartupOptions& options,
                                                       async::Event& stop, log::Logger& logger);

}  // namespace tracker::schema
