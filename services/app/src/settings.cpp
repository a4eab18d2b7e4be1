#include <tracker/app/settings.hpp>

#include <stdexcept>

#include <tracker/http/client.hpp>
#include <tracker/messages/topics.hpp>
#include <tracker/slack/token_cipher.hpp>

namespace tracker::app {

using namespace std::chrono_literals;

Settings load_settings(config::Env& env) {
  Settings s;
  s.common = service::load_common(env, {.ops_port = 9469, .db_pool_size = 4});
  s.address = env.optional("TRACKER_APP_ADDRESS", "0.0.0.0");
  s.port = env.listen_port("TRACKER_APP_PORT", 3001);
  if (env.optional("TRACKER_APP_PUBLIC_URL", "").empty()) {
    env.fail("TRACKER_APP_PUBLIC_URL",
             "is required: the https:// address where Slack and browsers reach this service");
  } else {
    s.public_url = service::load_base_url(env, "TRACKER_APP_PUBLIC_URL", "");
  }
  while (!s.public_url.empty() && s.public_url.back() == '/') s.public_url.pop_back();
  s.client_id = env.optional("SLACK_CLIENT_ID", "");
  if (s.client_id.empty()) env.fail("SLACK_CLIENT_ID", "is required (the app's Basic Information)");
  s.client_secret = env.secret("SLACK_CLIENT_SECRET");
  s.token_keys = env.secret("TRACKER_TOKEN_ENCRYPTION_KEY");
  if (!s.token_keys.empty()) {
    try {
      (void)slack::TokenCipher::parse(s.token_keys.reveal());
    } catch (const std::invalid_argument& error) {
      env.fail("TRACKER_TOKEN_ENCRYPTION_KEY",
               std::string(error.what()) +
                   " (a key: \"<id>:\" and 32 random bytes in base64, e.g. from openssl rand "
                   "-base64 32)");
    }
  }
  s.slack_base_url = service::load_base_url(env, "SLACK_API_BASE_URL", "https://slack.com/api");
  s.authorize_url =
      service::load_base_url(env, "SLACK_AUTHORIZE_URL", "https://slack.com/oauth/v2/authorize");
  s.slack_ca_file = env.optional("TRACKER_SLACK_CA_FILE", "");
  s.state_lifetime = std::chrono::duration_cast<std::chrono::seconds>(
      env.duration("TRACKER_OAUTH_STATE_TTL", 10min, 1s, 1h));
  s.request_timeout = env.duration("TRACKER_SLACK_REQUEST_TIMEOUT", 10s, 100ms, 5min);
  s.prune_interval =
      env.duration("TRACKER_PRUNE_INTERVAL", std::chrono::hours{1}, 1s, std::chrono::hours{24});
  s.topic = env.optional("TRACKER_APP_TOPIC", std::string(messages::topics::kSlackEvents));
  s.group_id = env.optional("TRACKER_APP_GROUP", "app");
  s.command_topic =
      env.optional("TRACKER_APP_COMMAND_TOPIC", std::string(messages::topics::kSlackCommands));
  s.response_origin =
      service::load_base_url(env, "SLACK_RESPONSE_URL_ORIGIN", "https://hooks.slack.com");
  s.summary_topic =
      env.optional("TRACKER_SCHEDULER_TOPIC", std::string(messages::topics::kSummaryRequests));
  s.instance = env.optional("TRACKER_APP_INSTANCE", service::default_instance("app"));
  s.bot_token = env.optional_secret("SLACK_BOT_TOKEN");
  if (!s.bot_token.empty() && !s.bot_token.reveal().starts_with("xoxb-")) {
    env.fail("SLACK_BOT_TOKEN", "is not a bot token (xoxb-...)");
  }
  s.users_info_per_minute =
      static_cast<double>(env.integer("TRACKER_SLACK_USERS_INFO_PER_MINUTE", 90, 1, 6'000));
  s.home_min_interval = env.duration("TRACKER_APP_HOME_MIN_INTERVAL", 10s, 0ms, 1h);
  s.person_defaults.time_zone = env.optional("TRACKER_DEFAULT_TIME_ZONE", "Asia/Seoul");
  s.person_defaults.summary_hour =
      static_cast<int>(env.integer("TRACKER_DEFAULT_SUMMARY_HOUR", 21, 0, 23));
  s.retention = std::chrono::duration_cast<std::chrono::seconds>(
      env.duration("TRACKER_WORKSPACE_RETENTION", std::chrono::hours{24 * 30}, 0s,
                   std::chrono::hours{24 * 3650}));
  env.finish();
  return s;
}

}  // namespace tracker::app
