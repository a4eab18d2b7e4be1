#include <tracker/notifier/settings.hpp>

#include <stdexcept>

#include <tracker/messages/topics.hpp>
#include <tracker/slack/token_cipher.hpp>

namespace tracker::notifier {

using namespace std::chrono_literals;

Settings load_settings(config::Env& env) {
  Settings s;
  s.common = service::load_common(env, {.ops_port = 9468, .db_pool_size = 4});
  // Installed workspaces' own tokens (TRACKER_TOKEN_ENCRYPTION_KEY), SLACK_BOT_TOKEN for one
  // workspace, or both (the bot token for workspaces that never installed the app).
  s.token_keys = env.optional_secret("TRACKER_TOKEN_ENCRYPTION_KEY");
  s.bot_token =
      s.token_keys.empty() ? env.secret("SLACK_BOT_TOKEN") : env.optional_secret("SLACK_BOT_TOKEN");
  if (!s.bot_token.empty() && !s.bot_token.reveal().starts_with("xoxb-")) {
    env.fail("SLACK_BOT_TOKEN", "is not a bot token (xoxb-...)");
  }
  if (!s.token_keys.empty()) {
    try {
      (void)slack::TokenCipher::parse(s.token_keys.reveal());
    } catch (const std::invalid_argument& error) {
      env.fail("TRACKER_TOKEN_ENCRYPTION_KEY", error.what());
    }
  }
  s.slack_base_url = service::load_base_url(env, "SLACK_API_BASE_URL", "https://slack.com/api");
  s.slack_ca_file = env.optional("TRACKER_SLACK_CA_FILE", "");
  s.topic = env.optional("TRACKER_NOTIFIER_TOPIC", std::string(messages::topics::kSlackOutbox));
  s.options.dlq_topic = env.optional("TRACKER_NOTIFIER_DLQ_TOPIC",
                                     std::string(messages::topics::kSlackOutboxDeadLetters));
  s.group_id = env.optional("TRACKER_NOTIFIER_GROUP", "notifier");

  auto& o = s.options;
  o.pacing.channel_per_second =
      static_cast<double>(env.integer("TRACKER_SLACK_CHANNEL_PER_MINUTE", 60, 1, 600'000)) / 60.0;
  o.pacing.channel_burst =
      static_cast<double>(env.integer("TRACKER_SLACK_CHANNEL_BURST", 3, 1, 10'000));
  o.pacing.workspace_per_minute =
      static_cast<double>(env.integer("TRACKER_SLACK_WORKSPACE_PER_MINUTE", 100, 1, 6'000'000));
  o.pacing.workspace_burst =
      static_cast<double>(env.integer("TRACKER_SLACK_WORKSPACE_BURST", 10, 1, 100'000));
  o.pacing.headroom =
      static_cast<double>(env.integer("TRACKER_SLACK_PACING_HEADROOM_PERCENT", 2, 0, 50)) / 100.0;
  o.max_attempts = static_cast<int>(env.integer("TRACKER_SLACK_MAX_ATTEMPTS", 10, 1, 50));
  o.delivery_deadline =
      env.duration("TRACKER_SLACK_DELIVERY_DEADLINE", 15min, 1s, std::chrono::hours{24});
  o.backoff.initial = env.duration("TRACKER_SLACK_RETRY_INITIAL", 1s, 1ms, 10min);
  o.backoff.max = env.duration("TRACKER_SLACK_RETRY_MAX", 30s, 1ms, 1h);
  if (o.backoff.max < o.backoff.initial) {
    env.fail("TRACKER_SLACK_RETRY_MAX", "must not be below TRACKER_SLACK_RETRY_INITIAL");
  }
  o.retry_after_max = env.duration("TRACKER_SLACK_RETRY_AFTER_MAX", 2min, 0ms, 1h);
  o.retry_after_jitter = env.duration("TRACKER_SLACK_RETRY_AFTER_JITTER", 500ms, 0ms, 1min);
  o.part_characters =
      static_cast<std::size_t>(env.integer("TRACKER_SLACK_PART_CHARACTERS", 4'000, 100, 40'000));
  o.max_buffered =
      static_cast<std::size_t>(env.integer("TRACKER_NOTIFIER_MAX_BUFFERED", 5'000, 1, 1'000'000));
  o.db_retry_max = s.common.database->retry_max;
  o.retention = env.duration("TRACKER_DELIVERY_RETENTION", std::chrono::hours{24 * 30}, 1s,
                             std::chrono::hours{24 * 3650});
  o.prune_interval =
      env.duration("TRACKER_PRUNE_INTERVAL", std::chrono::hours{1}, 0ms, std::chrono::hours{24});

  s.connections =
      static_cast<std::size_t>(env.integer("TRACKER_SLACK_MAX_CONNECTIONS", 8, 1, 1'024));
  s.request_timeout = env.duration("TRACKER_SLACK_REQUEST_TIMEOUT", 10s, 100ms, 5min);
  // A delivery's lease outlasts one request: the request timeout plus LeasePolicy's margin.
  o.lease.request_timeout = s.request_timeout;
  o.instance = env.optional("TRACKER_NOTIFIER_INSTANCE", service::default_instance("notifier"));
  if (o.instance.empty() || o.instance.size() > 200) {
    env.fail("TRACKER_NOTIFIER_INSTANCE", "must be 1 to 200 characters");
  }
  env.finish();
  return s;
}

}  // namespace tracker::notifier
