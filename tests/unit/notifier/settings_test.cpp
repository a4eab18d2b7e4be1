// The notifier's settings: defaults, and a clear error for each bad variable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <tracker/notifier/settings.hpp>

using tracker::config::ConfigError;
using tracker::config::Env;
using tracker::config::fixed_environment;

namespace {

std::map<std::string, std::string> notifier_minimal() {
  return {{"KAFKA_BROKERS", "127.0.0.1:19092"},
          {"DATABASE_URL", "postgresql://tracker@127.0.0.1:15432/tracker"},
          {"SLACK_BOT_TOKEN", "xoxb-1-2-abc"}};
}

}  // namespace

TEST(NotifierSettings, DefaultsFollowSlacksLimits) {
  Env env(fixed_environment(notifier_minimal()));
  const auto s = tracker::notifier::load_settings(env);
  EXPECT_EQ(s.slack_base_url, "https://slack.com/api");
  EXPECT_EQ(s.topic, "slack-outbox");
  EXPECT_EQ(s.options.dlq_topic, "slack-outbox.dlq");
  EXPECT_DOUBLE_EQ(s.options.pacing.channel_per_second, 1.0);
  EXPECT_DOUBLE_EQ(s.options.pacing.workspace_per_minute, 100.0);
  EXPECT_EQ(s.options.max_attempts, 10);
  EXPECT_DOUBLE_EQ(s.options.pacing.headroom, 0.02);
  EXPECT_EQ(s.options.part_characters, 4000U);
  EXPECT_EQ(s.common.ops_port, 9468);
  EXPECT_EQ(s.bot_token.reveal(), "xoxb-1-2-abc");
  // The lease outlasts one request: the request timeout plus the margin.
  EXPECT_EQ(s.request_timeout, std::chrono::seconds{10});
  EXPECT_EQ(s.options.lease.duration(), s.request_timeout + s.options.lease.margin);
  EXPECT_GT(s.options.lease.margin.count(), 0);
  // Host name and process id, so that replicas and restarts differ.
  EXPECT_TRUE(s.options.instance.ends_with("-" + std::to_string(::getpid()))) << s.options.instance;
  EXPECT_GT(s.options.instance.size(), std::to_string(::getpid()).size() + 1);
}

TEST(NotifierSettings, TheLeaseFollowsTheRequestTimeoutAndTheInstanceCanBeNamed) {
  auto values = notifier_minimal();
  values["TRACKER_SLACK_REQUEST_TIMEOUT"] = "2s";
  values["TRACKER_NOTIFIER_INSTANCE"] = "notifier-0";
  Env env(fixed_environment(values));
  const auto s = tracker::notifier::load_settings(env);
  EXPECT_EQ(s.options.lease.request_timeout, std::chrono::seconds{2});
  EXPECT_EQ(s.options.lease.duration(), std::chrono::seconds{2} + s.options.lease.margin);
  EXPECT_EQ(s.options.instance, "notifier-0");
}

TEST(NotifierSettings, EachBadVariableIsNamed) {
  auto values = notifier_minimal();
  values.erase("SLACK_BOT_TOKEN");
  values["SLACK_API_BASE_URL"] = "slack.com/api";
  values["TRACKER_SLACK_MAX_ATTEMPTS"] = "0";
  values["TRACKER_SLACK_WORKSPACE_PER_MINUTE"] = "lots";
  values["TRACKER_SLACK_RETRY_INITIAL"] = "10s";
  values["TRACKER_SLACK_RETRY_MAX"] = "1s";
  Env env(fixed_environment(values));
  try {
    (void)tracker::notifier::load_settings(env);
    FAIL() << "accepted";
  } catch (const ConfigError& error) {
    const std::string text = error.what();
    for (const char* name : {"SLACK_BOT_TOKEN", "SLACK_API_BASE_URL", "TRACKER_SLACK_MAX_ATTEMPTS",
                             "TRACKER_SLACK_WORKSPACE_PER_MINUTE", "TRACKER_SLACK_RETRY_MAX"}) {
      EXPECT_NE(text.find(name), std::string::npos) << name << " not in: " << text;
    }
  }
}

TEST(NotifierSettings, RefusesATokenThatIsNotABotToken) {
  auto values = notifier_minimal();
  values["SLACK_BOT_TOKEN"] = "xoxp-user-token";
  Env env(fixed_environment(values));
  try {
    (void)tracker::notifier::load_settings(env);
    FAIL() << "accepted";
  } catch (const ConfigError& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("SLACK_BOT_TOKEN"), std::string::npos);
    EXPECT_EQ(text.find("xoxp-user-token"), std::string::npos) << "the token reached the message";
  }
}
