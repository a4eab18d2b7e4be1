#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/llm/chat_client.hpp>
#include <tracker/log/logger.hpp>

#include "summarizer.hpp"

namespace tracker::summarizer {

struct Settings {
  std::string brokers;           // KAFKA_BROKERS
  std::string database_url;      // DATABASE_URL
  std::string db_schema;         // TRACKER_DB_SCHEMA
  config::Secret api_key;        // OPENAI_API_KEY; unset: the offline provider
  std::string openai_base_url;   // OPENAI_BASE_URL (https://api.openai.com/v1)
  std::string openai_ca_file;    // TRACKER_OPENAI_CA_FILE: CAs to trust instead of the system's
  std::string topic;             // TRACKER_SUMMARIZER_TOPIC (summary-requests)
  std::string group_id;          // TRACKER_SUMMARIZER_GROUP (summarizer)
  SummarizerOptions options;     // TRACKER_SUMMARIZER_*, TRACKER_OPENAI_*, see load_settings
  llm::ChatClientOptions chat;   // TRACKER_OPENAI_*
  std::size_t connections = 64;  // TRACKER_OPENAI_MAX_CONNECTIONS
  std::size_t db_pool_size = 8;  // TRACKER_DB_POOL_SIZE
  std::chrono::milliseconds db_query_timeout{10'000};  // TRACKER_DB_QUERY_TIMEOUT
  bool migrate = true;                                 // TRACKER_MIGRATE_ON_START
  std::string address;                                 // TRACKER_OPS_ADDRESS (127.0.0.1)
  std::uint16_t ops_port = 9467;                       // TRACKER_OPS_PORT
  std::chrono::milliseconds shutdown_grace{10'000};    // TRACKER_SHUTDOWN_GRACE
  log::Level log_level = log::Level::info;             // TRACKER_LOG_LEVEL
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::summarizer
