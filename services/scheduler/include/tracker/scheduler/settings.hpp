#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/service/settings.hpp>

#include <tracker/scheduler/scheduler.hpp>

namespace tracker::scheduler {

struct Settings {
  // KAFKA_BROKERS, DATABASE_URL, TRACKER_DB_* (pool 4, query timeout 30 s),
  // TRACKER_MIGRATE_ON_START, TRACKER_OPS_* (9466: /metrics, /healthz, /readyz and /trigger),
  // TRACKER_SHUTDOWN_GRACE, TRACKER_LOG_LEVEL
  service::Settings common;
  config::Secret admin_token;  // TRACKER_ADMIN_TOKEN: POST /trigger needs it; unset disables it
  SchedulerOptions options;    // TRACKER_SCHEDULER_*, TRACKER_SUMMARY_*, see load_settings
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::scheduler
