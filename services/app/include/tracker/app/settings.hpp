#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/service/settings.hpp>

#include <tracker/app/study_store.hpp>

namespace tracker::app {

struct Settings {
  // KAFKA_BROKERS, DATABASE_URL, TRACKER_DB_* (pool 4), TRACKER_MIGRATE_ON_START,
  // TRACKER_OPS_* (9469), TRACKER_SHUTDOWN_GRACE, TRACKER_LOG_LEVEL
  service::Settings common;
  std::string address = "0.0.0.0";  // TRACKER_APP_ADDRESS
  std::uint16_t port = 3001;        // TRACKER_APP_PORT: /slack/install, /slack/oauth_redirect
  // TRACKER_APP_PUBLIC_URL: where people and Slack reach this port, e.g.
  // https://tracker.example.com; the redirect URL is <public>/slack/oauth_redirect.
  std::string public_url;
  std::string client_id;         // SLACK_CLIENT_ID
  config::Secret client_secret;  // SLACK_CLIENT_SECRET
  // TRACKER_TOKEN_ENCRYPTION_KEY: "<id>:<base64 of 32 bytes>[,...]", the first seals.
  config::Secret token_keys;
  std::string slack_base_url;  // SLACK_API_BASE_URL (https://slack.com/api)
  std::string authorize_url;   // SLACK_AUTHORIZE_URL (https://slack.com/oauth/v2/authorize)
  std::string slack_ca_file;   // TRACKER_SLACK_CA_FILE
  std::chrono::seconds state_lifetime{600};             // TRACKER_OAUTH_STATE_TTL
  std::chrono::milliseconds request_timeout{10'000};    // TRACKER_SLACK_REQUEST_TIMEOUT
  std::chrono::milliseconds prune_interval{3'600'000};  // TRACKER_PRUNE_INTERVAL
  std::string topic;          // TRACKER_APP_TOPIC (slack-events): the lifecycle events
  std::string command_topic;  // TRACKER_APP_COMMAND_TOPIC (slack-commands): /study
  // SLACK_RESPONSE_URL_ORIGIN: the only origin a command's response_url may have.
  std::string response_origin;
  // TRACKER_DEFAULT_TIME_ZONE, TRACKER_DEFAULT_SUMMARY_HOUR: a person the worker has not seen
  // yet, as the worker will see them (the same variables as the worker's).
  PersonDefaults person_defaults;
  // /study summary claims with the scheduler's claim, in this process: TRACKER_SCHEDULER_TOPIC
  // (summary-requests) is where the claimed jobs go, TRACKER_APP_INSTANCE (app-<host name>) is
  // recorded as their claimed_by.
  std::string summary_topic;
  std::string instance;
  // SLACK_BOT_TOKEN: for a workspace that never installed the app (the one-workspace mode).
  config::Secret bot_token;
  // TRACKER_APP_HOME_MIN_INTERVAL: a person's App Home is published at most this often.
  std::chrono::milliseconds home_min_interval{10'000};
  double users_info_per_minute = 90;  // TRACKER_SLACK_USERS_INFO_PER_MINUTE (Tier 4: 100+)
  std::string group_id;               // TRACKER_APP_GROUP (app)
  // TRACKER_WORKSPACE_RETENTION: how long a workspace's data is kept after an uninstall or a
  // revoked token (30 days), before the app deletes it.
  std::chrono::seconds retention{30 * 24 * 3600};

  [[nodiscard]] std::string redirect_uri() const { return public_url + "/slack/oauth_redirect"; }
};

// Reads every setting; throws config::ConfigError naming each bad variable (a key list that
// does not parse is named with what is wrong, never with the key).
Settings load_settings(config::Env& env);

}  // namespace tracker::app
