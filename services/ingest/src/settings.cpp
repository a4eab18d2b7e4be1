#include <tracker/ingest/settings.hpp>

#include <tracker/kafka/limits.hpp>
#include <tracker/messages/topics.hpp>

namespace tracker::ingest {

using namespace std::chrono_literals;

Settings load_settings(config::Env& env) {
  Settings s;
  s.signing_secret = env.secret("SLACK_SIGNING_SECRET");
  s.previous_signing_secret = env.optional_secret("SLACK_SIGNING_SECRET_PREVIOUS");
  s.common = service::load_common(env, {.ops_port = 9464, .database = false});
  s.topic = env.optional("TRACKER_INGEST_TOPIC", std::string(messages::topics::kSlackEvents));
  s.command_topic =
      env.optional("TRACKER_INGEST_COMMAND_TOPIC", std::string(messages::topics::kSlackCommands));
  s.address = env.optional("TRACKER_INGEST_ADDRESS", "0.0.0.0");
  s.port = env.listen_port("TRACKER_INGEST_PORT", 3000);
  // Slack waits 3 s; the answer must leave well before that.
  s.publish_deadline = env.duration("TRACKER_PUBLISH_DEADLINE", 2s, 10ms, 2'900ms);
  s.max_body_bytes = static_cast<std::uint64_t>(
      env.integer("TRACKER_MAX_BODY_BYTES", 1024 * 1024, 1024, 1024 * 1024 * 1024));
  if (s.max_body_bytes > kafka::kMaxEventBodyBytes) {
    // A body that passes this limit must also fit in a Kafka record with its envelope, or it
    // would be refused on every one of Slack's retries.
    env.fail("TRACKER_MAX_BODY_BYTES",
             std::to_string(s.max_body_bytes) +
                 " is more than an event can be and still be stored: " + "a record takes at most " +
                 std::to_string(kafka::kMaxRecordBytes) + " bytes, which leaves " +
                 std::to_string(kafka::kMaxEventBodyBytes) + " for the body beside its envelope");
  }
  s.max_connections =
      static_cast<std::size_t>(env.integer("TRACKER_MAX_CONNECTIONS", 10'000, 1, 1'000'000));
  s.idle_timeout = env.duration("TRACKER_IDLE_TIMEOUT", 60s, 100ms, 1h);
  s.header_timeout = env.duration("TRACKER_HEADER_TIMEOUT", 10s, 100ms, 5min);
  s.body_timeout = env.duration("TRACKER_BODY_TIMEOUT", 10s, 100ms, 5min);
  s.common.io_threads = static_cast<int>(env.integer("TRACKER_IO_THREADS", 1, 1, 64));
  s.producer_queue_messages =
      static_cast<int>(env.integer("TRACKER_PRODUCER_QUEUE_MESSAGES", 100'000, 1, 10'000'000));
  s.producer_linger = env.duration("TRACKER_PRODUCER_LINGER", 0ms, 0ms, 1s);
  // At most 5 with the idempotent producer (librdkafka keeps the order up to that).
  s.producer_max_in_flight =
      static_cast<int>(env.integer("TRACKER_PRODUCER_MAX_IN_FLIGHT", 1, 1, 5));
  s.producer_compression = env.optional("TRACKER_PRODUCER_COMPRESSION", "none");
  if (s.producer_compression != "none" && s.producer_compression != "lz4" &&
      s.producer_compression != "snappy" && s.producer_compression != "zstd" &&
      s.producer_compression != "gzip") {
    env.fail("TRACKER_PRODUCER_COMPRESSION",
             "is \"" + s.producer_compression + "\"; one of none, lz4, snappy, zstd, gzip");
  }
  env.finish();
  return s;
}

}  // namespace tracker::ingest
