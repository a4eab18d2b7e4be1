#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <tracker/config/env.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/service/settings.hpp>

namespace tracker::ingest {

struct Settings {
  // KAFKA_BROKERS, TRACKER_OPS_* (127.0.0.1:9464), TRACKER_SHUTDOWN_GRACE, TRACKER_LOG_LEVEL,
  // TRACKER_IO_THREADS (default_io_threads()); no database
  service::Settings common;
  config::Secret signing_secret;           // SLACK_SIGNING_SECRET
  config::Secret previous_signing_secret;  // SLACK_SIGNING_SECRET_PREVIOUS (rotation), optional
  std::string topic;                       // TRACKER_INGEST_TOPIC (slack-events)
  std::string command_topic;  // TRACKER_INGEST_COMMAND_TOPIC (slack-commands): /study commands
  std::string address;        // TRACKER_INGEST_ADDRESS (0.0.0.0)
  std::uint16_t port = 3000;  // TRACKER_INGEST_PORT
  std::chrono::milliseconds publish_deadline{2'000};  // TRACKER_PUBLISH_DEADLINE
  std::uint64_t max_body_bytes = 1024 * 1024;      // TRACKER_MAX_BODY_BYTES (<= kMaxEventBodyBytes)
  std::size_t max_connections = 10'000;            // TRACKER_MAX_CONNECTIONS
  std::chrono::milliseconds idle_timeout{60'000};  // TRACKER_IDLE_TIMEOUT
  std::chrono::milliseconds header_timeout{10'000};  // TRACKER_HEADER_TIMEOUT
  std::chrono::milliseconds body_timeout{10'000};    // TRACKER_BODY_TIMEOUT
  int producer_queue_messages = 100'000;             // TRACKER_PRODUCER_QUEUE_MESSAGES
  // TRACKER_PRODUCER_LINGER: how long the producer holds a record to batch it with others (0:
  // it goes out at once; records still batch while earlier requests to the broker are in
  // flight, so batches grow with the load and a lone event waits for nothing).
  std::chrono::milliseconds producer_linger{0};
  // TRACKER_PRODUCER_MAX_IN_FLIGHT: produce requests to the broker awaiting its answer at once;
  // records that arrive meanwhile form the next batch (1: the batch grows with the load).
  int producer_max_in_flight = 1;
  // TRACKER_PRODUCER_COMPRESSION: none, lz4, snappy, zstd or gzip.
  std::string producer_compression = "none";
};

// TRACKER_IO_THREADS's default: an event loop per core the process may use. That is the CPUs
// it may run on (sched_getaffinity), or fewer under a cgroup v2 CPU limit (/sys/fs/cgroup/
// cpu.max, which a container's CPU limit sets; a part of a core counts as one); 1 to 64.
int default_io_threads();
// The same from its inputs: `cpus` the process may run on, and the text of cpu.max ("max
// 100000", "150000 100000"; anything else: no limit).
int cores_allowed(int cpus, std::string_view cpu_max);

// Reads every setting; throws config::ConfigError naming each bad variable.
Settings load_settings(config::Env& env);

}  // namespace tracker::ingest
