#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/service/settings.hpp>

#include <tracker/worker/event.hpp>
#include <tracker/worker/store.hpp>
#include <tracker/worker/worker.hpp>

namespace tracker::worker {

struct Settings {
  // KAFKA_BROKERS, DATABASE_URL, TRACKER_DB_* (the pool: TRACKER_MAX_INFLIGHT_BATCHES + 1 unless
  // set), TRACKER_MIGRATE_ON_START, TRACKER_OPS_* (9465), TRACKER_SHUTDOWN_GRACE, ..._LOG_LEVEL
  service::Settings common;
  std::string topic;      // TRACKER_WORKER_TOPIC (slack-events)
  std::string dlq_topic;  // TRACKER_WORKER_DLQ_TOPIC (slack-events.dlq)
  std::string group_id;   // TRACKER_WORKER_GROUP (worker)
  Filter filter;  // TRACKER_WATCHED_CHANNELS, TRACKER_ALLOWED_TEAM_IDS, TRACKER_ALLOWED_APP_IDS
  UserDefaults user_defaults;   // TRACKER_DEFAULT_TIME_ZONE, TRACKER_DEFAULT_SUMMARY_HOUR
  std::size_t batch_max = 500;  // TRACKER_BATCH_MAX_EVENTS
  std::chrono::milliseconds batch_linger{20};  // TRACKER_BATCH_LINGER
  int lanes = 4;                               // TRACKER_MAX_INFLIGHT_BATCHES
  std::size_t max_buffered = 0;  // TRACKER_MAX_BUFFERED_EVENTS (0: max(10000, 4 x batch x lanes))
  int prefetch_kbytes = 65'536;  // TRACKER_KAFKA_PREFETCH_KBYTES
  std::chrono::milliseconds processed_retention{std::chrono::hours{336}};  // ..._RETENTION
  std::chrono::milliseconds prune_interval{std::chrono::hours{1}};         // TRACKER_PRUNE_INTERVAL
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

// What the Worker is told of them.
WorkerOptions worker_options(const Settings& settings);

}  // namespace tracker::worker
