#include <tracker/scheduler/settings.hpp>

#include <tracker/messages/topics.hpp>

namespace tracker::scheduler {

using namespace std::chrono_literals;

Settings load_settings(config::Env& env) {
  Settings s;
  s.common = service::load_common(
      env, {.ops_port = 9466, .db_pool_size = 4, .db_query_timeout = std::chrono::seconds{30}});
  s.admin_token = env.optional_secret("TRACKER_ADMIN_TOKEN");
  if (!s.admin_token.empty() && s.admin_token.reveal().size() < 16) {
    env.fail("TRACKER_ADMIN_TOKEN", "is shorter than 16 characters");
  }
  auto& o = s.options;
  o.topic =
      env.optional("TRACKER_SCHEDULER_TOPIC", std::string(messages::topics::kSummaryRequests));
  o.instance = env.optional("TRACKER_SCHEDULER_INSTANCE", service::default_instance("scheduler"));
  o.tick_interval = env.duration("TRACKER_SCHEDULER_TICK_INTERVAL", 60s, 100ms, 1h);
  o.catch_up_window = env.duration("TRACKER_SCHEDULER_CATCH_UP_WINDOW", std::chrono::hours{36}, 0ms,
                                   std::chrono::hours{24 * 30});
  o.require_activity = env.flag("TRACKER_SCHEDULER_REQUIRE_ACTIVITY", true);
  o.claim_batch =
      static_cast<std::size_t>(env.integer("TRACKER_SCHEDULER_CLAIM_BATCH", 10'000, 1, 1'000'000));
  o.publish_grace = env.duration("TRACKER_SCHEDULER_PUBLISH_GRACE", 2min, 1s, 1h);
  o.job_timeout = env.duration("TRACKER_SUMMARY_JOB_TIMEOUT", 30min, 1s, std::chrono::hours{48});
  o.max_publishes = static_cast<int>(env.integer("TRACKER_SUMMARY_MAX_PUBLISHES", 3, 1, 100));
  o.db_retry_max = s.common.database->retry_max;
  env.finish();
  return s;
}

}  // namespace tracker::scheduler
