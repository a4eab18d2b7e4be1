#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/service/settings.hpp>

#include <tracker/notifier/notifier.hpp>

namespace tracker::notifier {

struct Settings {
  // KAFKA_BROKERS, DATABASE_URL, TRACKER_DB_* (pool 4), TRACKER_MIGRATE_ON_START,
  // TRACKER_OPS_* (9468), TRACKER_SHUTDOWN_GRACE, TRACKER_LOG_LEVEL
  service::Settings common;
  config::Secret bot_token;     // SLACK_BOT_TOKEN (xoxb-...): required without token_keys
  config::Secret token_keys;    // TRACKER_TOKEN_ENCRYPTION_KEY: each workspace's own token
  std::string slack_base_url;   // SLACK_API_BASE_URL (https://slack.com/api)
  std::string slack_ca_file;    // TRACKER_SLACK_CA_FILE: CAs to trust instead of the system's
  std::string topic;            // TRACKER_NOTIFIER_TOPIC (slack-outbox)
  std::string group_id;         // TRACKER_NOTIFIER_GROUP (notifier)
  NotifierOptions options;      // TRACKER_SLACK_*, TRACKER_NOTIFIER_* (TRACKER_NOTIFIER_INSTANCE:
                                // the name in delivery leases, host-pid), see load_settings
  std::size_t connections = 8;  // TRACKER_SLACK_MAX_CONNECTIONS: requests in flight at most
  std::chrono::milliseconds request_timeout{10'000};  // TRACKER_SLACK_REQUEST_TIMEOUT
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::notifier
