#include <tracker/ingest/settings.hpp>

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include <tracker/kafka/limits.hpp>
#include <tracker/messages/topics.hpp>

namespace tracker::ingest {

using namespace std::chrono_literals;

int cores_allowed(int cpus, std::string_view cpu_max) {
  int cores = std::max(cpus, 1);
  // "max 100000" (no limit) or "<quota> <period>" in microseconds.
  const auto space = cpu_max.find(' ');
  if (space != std::string_view::npos) {
    std::int64_t quota = 0;
    std::int64_t period = 0;
    const auto q = cpu_max.substr(0, space);
    auto p = cpu_max.substr(space + 1);
    while (!p.empty() && std::isspace(static_cast<unsigned char>(p.back()))) p.remove_suffix(1);
    const bool parsed = std::from_chars(q.data(), q.data() + q.size(), quota).ec == std::errc{} &&
                        std::from_chars(p.data(), p.data() + p.size(), period).ec == std::errc{};
    if (parsed && quota > 0 && period > 0) {
      const std::int64_t limit = (quota + period - 1) / period;  // a part of a core counts whole
      cores = static_cast<int>(std::min<std::int64_t>(cores, limit));
    }
  }
  return std::clamp(cores, 1, 64);
}

int default_io_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = ::sched_getaffinity(0, sizeof set, &set) == 0
                       ? CPU_COUNT(&set)
                       : static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::string cpu_max;
  std::getline(file, cpu_max);
  return cores_allowed(cpus, cpu_max);
}

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
  // An event loop per core: a connection stays on the loop that took it.
  s.common.io_threads =
      static_cast<int>(env.integer("TRACKER_IO_THREADS", default_io_threads(), 1, 64));
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
