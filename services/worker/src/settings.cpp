#include <tracker/worker/settings.hpp>

#include <algorithm>

#include <tracker/messages/topics.hpp>

namespace tracker::worker {

using namespace std::chrono_literals;

namespace {

// "C1,C2, C3" -> {"C1", "C2", "C3"}; Slack ids are upper-case letters and digits.
std::vector<std::string> id_list(config::Env& env, const std::string& name) {
  const std::string text = env.optional(name, "");
  std::vector<std::string> ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string id = text.substr(start, end - start);
    id.erase(0, id.find_first_not_of(" \t"));
    id.erase(id.find_last_not_of(" \t") + 1);
    if (!id.empty()) {
      const bool valid = std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      });
      if (!valid) {
        env.fail(name, "\"" + id + "\" is not a Slack id (upper-case letters and digits)");
      } else {
        ids.push_back(std::move(id));
      }
    }
    start = end + 1;
  }
  return ids;
}

}  // namespace

Settings load_settings(config::Env& env) {
  Settings s;
  s.common = service::load_common(env, {.ops_port = 9465, .db_pool_size = 0, .db_pool_min = 0});
  s.topic = env.optional("TRACKER_WORKER_TOPIC", std::string(messages::topics::kSlackEvents));
  s.dlq_topic = env.optional("TRACKER_WORKER_DLQ_TOPIC",
                             std::string(messages::topics::kSlackEventsDeadLetters));
  s.group_id = env.optional("TRACKER_WORKER_GROUP", "worker");
  s.filter.channels = id_list(env, "TRACKER_WATCHED_CHANNELS");
  s.filter.team_ids = id_list(env, "TRACKER_ALLOWED_TEAM_IDS");
  s.filter.app_ids = id_list(env, "TRACKER_ALLOWED_APP_IDS");
  s.user_defaults.time_zone = env.optional("TRACKER_DEFAULT_TIME_ZONE", "Asia/Seoul");
  s.user_defaults.summary_hour =
      static_cast<int>(env.integer("TRACKER_DEFAULT_SUMMARY_HOUR", 21, 0, 23));
  s.batch_max = static_cast<std::size_t>(env.integer("TRACKER_BATCH_MAX_EVENTS", 500, 1, 10'000));
  s.batch_linger = env.duration("TRACKER_BATCH_LINGER", 20ms, 0ms, 10s);
  s.lanes = static_cast<int>(env.integer("TRACKER_MAX_INFLIGHT_BATCHES", 4, 1, 64));
  const auto buffered = env.integer("TRACKER_MAX_BUFFERED_EVENTS", 0, 0, 10'000'000);
  // Lanes are fed by partition and librdkafka hands out a partition's fetch in long runs, so a
  // small buffer fills with one lane's events while the others idle: below 10,000 a backlog
  // drained at a third of the rate (batches of 100: 8,800 against 28,000 events/s).
  s.max_buffered = buffered > 0 ? static_cast<std::size_t>(buffered)
                                : std::max<std::size_t>(
                                      10'000, 4 * s.batch_max * static_cast<std::size_t>(s.lanes));
  std::size_t& pool = s.common.database->pool_size;
  if (pool == 0) pool = static_cast<std::size_t>(s.lanes) + 1;
  if (pool < static_cast<std::size_t>(s.lanes)) {
    // A lane holds a connection for each transaction; fewer would turn waits for a connection
    // into timeouts that look like a database outage.
    env.fail("TRACKER_DB_POOL_SIZE",
             "must be at least TRACKER_MAX_INFLIGHT_BATCHES (" + std::to_string(s.lanes) + ")");
  }
  s.prefetch_kbytes =
      static_cast<int>(env.integer("TRACKER_KAFKA_PREFETCH_KBYTES", 65'536, 1'024, 1'048'576));
  s.processed_retention = env.duration("TRACKER_PROCESSED_EVENTS_RETENTION",
                                       std::chrono::hours{336}, 1s, std::chrono::hours{24 * 3650});
  s.prune_interval =
      env.duration("TRACKER_PRUNE_INTERVAL", std::chrono::hours{1}, 0ms, std::chrono::hours{24});
  env.finish();
  return s;
}

WorkerOptions worker_options(const Settings& s) {
  return {.dlq_topic = s.dlq_topic,
          .filter = s.filter,
          .batch_max = s.batch_max,
          .batch_linger = s.batch_linger,
          .lanes = s.lanes,
          .max_buffered = s.max_buffered,
          .retry_max = s.common.database->retry_max,
          .processed_retention = s.processed_retention,
          .prune_interval = s.prune_interval};
}

}  // namespace tracker::worker
