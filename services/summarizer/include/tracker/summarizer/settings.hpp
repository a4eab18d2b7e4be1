#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/llm/chat_client.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/service/settings.hpp>

#include <tracker/summarizer/summarizer.hpp>

namespace tracker::summarizer {

struct Settings {
  // KAFKA_BROKERS, DATABASE_URL, TRACKER_DB_* (pool 8), TRACKER_MIGRATE_ON_START,
  // TRACKER_OPS_* (9467), TRACKER_SHUTDOWN_GRACE, TRACKER_LOG_LEVEL
  service::Settings common;
  config::Secret api_key;        // OPENAI_API_KEY; unset: the offline provider
  std::string openai_base_url;   // OPENAI_BASE_URL (https://api.openai.com/v1)
  std::string openai_ca_file;    // TRACKER_OPENAI_CA_FILE: CAs to trust instead of the system's
  std::string topic;             // TRACKER_SUMMARIZER_TOPIC (summary-requests)
  std::string group_id;          // TRACKER_SUMMARIZER_GROUP (summarizer)
  SummarizerOptions options;     // TRACKER_SUMMARIZER_*, TRACKER_OPENAI_*, see load_settings
  llm::ChatClientOptions chat;   // TRACKER_OPENAI_*
  std::size_t connections = 64;  // TRACKER_OPENAI_MAX_CONNECTIONS
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::summarizer
