#pragma once
// Shared set-up of the scheduler and summarizer integration tests: a migrated scratch schema,
// seeded people and study logs, and the two services as child processes.
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <tracker/pg/connection.hpp>
#include <tracker/pg/migrations.hpp>
#include <tracker/schema/migrations.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "environment.hpp"
#include "kafka_topic.hpp"
#include "pg_schema.hpp"
#include "run.hpp"
#include "service_process.hpp"

namespace tracker::testing {

inline void migrate(const std::string& schema) {
  boost::asio::io_context io;
  const pg::ConnectOptions connect{.conninfo = test_database_url()};
  const pg::MigrationOptions options{.schema = schema};
  auto applied = run(io, [&]() -> boost::asio::awaitable<bool> {
    auto connection = co_await pg::Connection::connect(io.get_executor(), connect);
    if (!connection) co_return false;
    auto report = co_await pg::migrate(**connection, schema::migrations(), options);
    co_return report.has_value();
  }());
  if (!applied) throw std::runtime_error("could not migrate schema " + schema);
}

// `count` people T1/U00001.. in `time_zone` with `summary_hour`, each with `logs_each` study
// logs posted at `posted_at` (an SQL timestamptz expression).
inline void seed_people(const std::string& schema, int count, const std::string& time_zone,
                        int summary_hour, int logs_each, const std::string& posted_at,
                        int first = 1) {
  const std::string last = std::to_string(first + count - 1);
  ScratchSchema::exec("SET search_path TO " + schema +
                      "; INSERT INTO users (team_id, user_id, time_zone, summary_hour) "
                      "SELECT 'T1', 'U' || lpad(g::text, 5, '0'), '" +
                      time_zone + "', " + std::to_string(summary_hour) + " FROM generate_series(" +
                      std::to_string(first) + ", " + last + ") AS g");
  if (logs_each == 0) return;
  ScratchSchema::exec(
      "SET search_path TO " + schema +
      "; INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at, "
      "version_at, duration_minutes, topics) "
      "SELECT 'T1', 'U' || lpad(g::text, 5, '0'), 'C0STUDY', "
      "(1700000000 + g * 100 + k)::text || '.000100', 'Ev' || g || '_' || k, "
      "'studied kafka partitions for an hour #kafka', " +
      posted_at +
      " + k * interval '1 minute', "
      "now(), 60, '{kafka}' "
      "FROM generate_series(" +
      std::to_string(first) + ", " + last +
      ") AS g, "
      "generate_series(1, " +
      std::to_string(logs_each) + ") AS k");
}

// The scheduler or summarizer binary with the settings every test shares.
class Service : public ServiceProcess {
 public:
  Service(const char* binary, std::vector<std::string> env)
      : Service(binary, std::move(env), testkit::free_loopback_port()) {}
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  Service(const char* binary, std::vector<std::string> env, std::uint16_t port)
      : ServiceProcess(binary, with_defaults(std::move(env), port),
                       // Nothing of the developer's own accounts leaks in: the test says it all.
                       {"DATABASE_URL=", "TRACKER_", "OPENAI_", "SLACK_"}),
        port_(port) {
    start();
  }
  // The test's own entries come after the defaults, so they win.
  static std::vector<std::string> with_defaults(std::vector<std::string> env, std::uint16_t port) {
    std::vector<std::string> all = {"DATABASE_URL=" + test_database_url(),
                                    "TRACKER_OPS_ADDRESS=127.0.0.1",
                                    "TRACKER_OPS_PORT=" + std::to_string(port),
                                    "TRACKER_DB_RETRY_MAX_INTERVAL=1s", "TRACKER_LOG_LEVEL=error"};
    for (auto& e : env) all.push_back(std::move(e));
    return all;
  }
  std::uint16_t port_;
};

}  // namespace tracker::testing
