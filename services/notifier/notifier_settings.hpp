#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/log/logger.hpp>

#include "notifier.hpp"

namespace tracker::notifier {

struct Settings {
  std::string brokers;          // KAFKA_BROKERS
  std::string database_url;     // DATABASE_URL
  std::string db_schema;        // TRACKER_DB_SCHEMA
  config::Secret bot_token;     // SLACK_BOT_TOKEN (xoxb-...)
  std::string slack_base_url;   // SLACK_API_BASE_URL (https://slack.com/api)
  std::string slack_ca_file;    // TRACKER_SLACK_CA_FILE: CAs to trust instead of the system's
  std::string topic;            // TRACKER_NOTIFIER_TOPIC (slack-outbox)
  std::string group_id;         // TRACKER_NOTIFIER_GROUP (notifier)
  NotifierOptions options;      // TRACKER_SLACK_*, TRACKER_NOTIFIER_* (TRACKER_NOTIFIER_INSTANCE:
                                // the name in delivery leases, host-pid), see load_settings
  std::size_t connections = 8;  // TRACKER_SLACK_MAX_CONNECTIONS: requests in flight at most
  std::chrono::milliseconds request_timeout{10'000};   // TRACKER_SLACK_REQUEST_TIMEOUT
  std::size_t db_pool_size = 4;                        // TRACKER_DB_POOL_SIZE
  std::chrono::milliseconds db_query_timeout{10'000};  // TRACKER_DB_QUERY_TIMEOUT
  bool migrate = true;                                 // TRACKER_MIGRATE_ON_START
  std::string address;                                 // TRACKER_OPS_ADDRESS (127.0.0.1)
  std::uint16_t ops_port = 9468;                       // TRACKER_OPS_PORT
  std::chrono::milliseconds shutdown_grace{10'000};    // TRACKER_SHUTDOWN_GRACE
  log::Level log_level = log::Level::info;             // TRACKER_LOG_LEVEL
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::notifier
