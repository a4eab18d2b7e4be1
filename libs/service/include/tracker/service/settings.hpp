#pragma once
// The settings every service reads the same way: the broker, the database, the ops endpoint,
// the shutdown grace, the log level. A service's own Settings holds these as `common` and reads
// them with load_common() before its own variables, so that one start-up reports every bad
// variable at once (config::Env collects the problems until finish()).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::service {

struct DatabaseSettings {
  std::string url;                                  // DATABASE_URL (a libpq URL or key=value)
  std::string schema;                               // TRACKER_DB_SCHEMA (empty: public)
  std::size_t pool_size = 4;                        // TRACKER_DB_POOL_SIZE
  std::chrono::milliseconds query_timeout{10'000};  // TRACKER_DB_QUERY_TIMEOUT
  std::chrono::milliseconds retry_max{5'000};       // TRACKER_DB_RETRY_MAX_INTERVAL
  bool migrate = true;                              // TRACKER_MIGRATE_ON_START
};

struct Settings {
  std::string brokers;                               // KAFKA_BROKERS
  std::optional<DatabaseSettings> database;          // none for a service without one (ingest)
  std::string ops_address = "127.0.0.1";             // TRACKER_OPS_ADDRESS (0.0.0.0 in a pod)
  std::uint16_t ops_port = 0;                        // TRACKER_OPS_PORT
  std::chrono::milliseconds shutdown_grace{10'000};  // TRACKER_SHUTDOWN_GRACE
  log::Level log_level = log::Level::info;           // TRACKER_LOG_LEVEL
  // Host::event_loops(), a thread each, for the component's connections (ingest:
  // TRACKER_IO_THREADS); the host's own loop (ops port, signals, shutdown) has one thread.
  int io_threads = 1;
};

// Each service's defaults for the common variables.
struct Defaults {
  std::uint16_t ops_port = 0;
  bool database = true;
  // TRACKER_DB_POOL_SIZE's default and lower bound; a default of 0 lets the service derive the
  // size from its own settings (the worker: one connection per lane and one more).
  std::int64_t db_pool_size = 4;
  std::int64_t db_pool_min = 1;
  std::chrono::milliseconds db_query_timeout{10'000};
};

// Reads the common variables; problems are recorded in `env` (its finish() throws).
Settings load_common(config::Env& env, const Defaults& defaults);

// An HTTP(S) base URL such as OPENAI_BASE_URL: `fallback` when unset, a problem recorded in `env`
// when it is not one (http::Origin's rules: a scheme, a host, an optional port and path).
std::string load_base_url(config::Env& env, const std::string& name, std::string fallback);

// The name a replica goes by in the leases and claims it writes: host name and process id,
// unique among the processes running at once (a restarted container may reuse both, but only
// once the process that had them is gone). `service` stands in for an unknown host name.
std::string default_instance(const std::string& service);

}  // namespace tracker::service
