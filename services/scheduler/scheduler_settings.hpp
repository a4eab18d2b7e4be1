#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/log/logger.hpp>

#include "scheduler.hpp"

namespace tracker::scheduler {

struct Settings {
  std::string brokers;           // KAFKA_BROKERS
  std::string database_url;      // DATABASE_URL
  std::string db_schema;         // TRACKER_DB_SCHEMA
  config::Secret admin_token;    // TRACKER_ADMIN_TOKEN: POST /trigger needs it; unset disables it
  SchedulerOptions options;      // TRACKER_SCHEDULER_*, TRACKER_SUMMARY_*, see load_settings
  std::size_t db_pool_size = 4;  // TRACKER_DB_POOL_SIZE
  std::chrono::milliseconds db_query_timeout{30'000};  // TRACKER_DB_QUERY_TIMEOUT
  bool migrate = true;                                 // TRACKER_MIGRATE_ON_START
  std::string address;                                 // TRACKER_OPS_ADDRESS (127.0.0.1)
  std::uint16_t ops_port = 9466;  // TRACKER_OPS_PORT: /metrics, /healthz, /readyz, /trigger
  log::Level log_level = log::Level::info;  // TRACKER_LOG_LEVEL
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::scheduler
