#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>

#include "event.hpp"
#include "store.hpp"

namespace tracker::worker {

struct Settings {
  std::string brokers;       // KAFKA_BROKERS
  std::string database_url;  // DATABASE_URL (a libpq URL or key=value string)
  std::string db_schema;     // TRACKER_DB_SCHEMA: schema for the tables (empty: the default)
  std::string topic;         // TRACKER_WORKER_TOPIC (slack-events)
  std::string dlq_topic;     // TRACKER_WORKER_DLQ_TOPIC (slack-events.dlq)
  std::string group_id;      // TRACKER_WORKER_GROUP (worker)
  Filter filter;  // TRACKER_WATCHED_CHANNELS, TRACKER_ALLOWED_TEAM_IDS, TRACKER_ALLOWED_APP_IDS
  UserDefaults user_defaults;   // TRACKER_DEFAULT_TIME_ZONE, TRACKER_DEFAULT_SUMMARY_HOUR
  std::size_t batch_max = 500;  // TRACKER_BATCH_MAX_EVENTS
  std::chrono::milliseconds batch_linger{20};  // TRACKER_BATCH_LINGER
  int lanes = 4;                               // TRACKER_MAX_INFLIGHT_BATCHES
  std::size_t max_buffered = 0;  // TRACKER_MAX_BUFFERED_EVENTS (0: max(10000, 4 x batch x lanes))
  std::size_t db_pool_size = 0;  // TRACKER_DB_POOL_SIZE (0: lanes + 1)
  int prefetch_kbytes = 65'536;  // TRACKER_KAFKA_PREFETCH_KBYTES
  std::chrono::milliseconds db_query_timeout{10'000};  // TRACKER_DB_QUERY_TIMEOUT
  std::chrono::milliseconds retry_max{5'000};          // TRACKER_DB_RETRY_MAX_INTERVAL
  std::chrono::milliseconds processed_retention{std::chrono::hours{336}};  // ..._RETENTION
  std::chrono::milliseconds prune_interval{std::chrono::hours{1}};         // TRACKER_PRUNE_INTERVAL
  bool migrate = true;                               // TRACKER_MIGRATE_ON_START
  std::string address;                               // TRACKER_OPS_ADDRESS (127.0.0.1)
  std::uint16_t ops_port = 9465;                     // TRACKER_OPS_PORT
  std::chrono::milliseconds shutdown_grace{10'000};  // TRACKER_SHUTDOWN_GRACE
  log::Level log_level = log::Level::info;           // TRACKER_LOG_LEVEL
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::worker
