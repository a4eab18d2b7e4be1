#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::ingest {

struct Settings {
  config::Secret signing_secret;           // SLACK_SIGNING_SECRET
  config::Secret previous_signing_secret;  // SLACK_SIGNING_SECRET_PREVIOUS (rotation), optional
  std::string brokers;                     // KAFKA_BROKERS
  std::string topic;                       // TRACKER_INGEST_TOPIC (slack-events)
  std::string address;                     // TRACKER_INGEST_ADDRESS (0.0.0.0)
  std::uint16_t port = 3000;               // TRACKER_INGEST_PORT
  std::string ops_address;                 // TRACKER_OPS_ADDRESS (127.0.0.1; 0.0.0.0 in a pod)
  std::uint16_t ops_port = 9464;           // TRACKER_OPS_PORT (/metrics, /healthz, /readyz)
  std::chrono::milliseconds publish_deadline{2'000};  // TRACKER_PUBLISH_DEADLINE
  std::uint64_t max_body_bytes = 1024 * 1024;      // TRACKER_MAX_BODY_BYTES (<= kMaxEventBodyBytes)
  std::size_t max_connections = 10'000;            // TRACKER_MAX_CONNECTIONS
  std::chrono::milliseconds idle_timeout{60'000};  // TRACKER_IDLE_TIMEOUT
  std::chrono::milliseconds header_timeout{10'000};  // TRACKER_HEADER_TIMEOUT
  std::chrono::milliseconds body_timeout{10'000};    // TRACKER_BODY_TIMEOUT
  std::chrono::milliseconds shutdown_grace{10'000};  // TRACKER_SHUTDOWN_GRACE
  int io_threads = 1;                                // TRACKER_IO_THREADS
  int producer_queue_messages = 100'000;             // TRACKER_PRODUCER_QUEUE_MESSAGES
  log::Level log_level = log::Level::info;           // TRACKER_LOG_LEVEL
};

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::ingest
