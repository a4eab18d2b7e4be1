#include <gtest/gtest.h>

#include <tracker/worker/settings.hpp>

namespace {

using tracker::config::ConfigError;
using tracker::config::Env;
using tracker::config::fixed_environment;

const std::map<std::string, std::string> kMinimal = {
    {"KAFKA_BROKERS", "127.0.0.1:19092"},
    {"DATABASE_URL", "postgresql://tracker:tracker@127.0.0.1:15432/tracker"}};

TEST(WorkerSettings, Defaults) {
  Env env(fixed_environment(kMinimal));
  const auto s = tracker::worker::load_settings(env);
  EXPECT_EQ(s.topic, "slack-events");
  EXPECT_EQ(s.dlq_topic, "slack-events.dlq");
  EXPECT_EQ(s.group_id, "worker");
  EXPECT_EQ(s.user_defaults.time_zone, "Asia/Seoul");
  EXPECT_EQ(s.user_defaults.summary_hour, 21);
  EXPECT_EQ(s.batch_max, 500u);
  EXPECT_EQ(s.lanes, 4);
  EXPECT_EQ(s.max_buffered, 10'000u);
  EXPECT_EQ(s.common.database->pool_size, 5u);
  EXPECT_EQ(s.prefetch_kbytes, 65'536);
  EXPECT_EQ(s.processed_retention, std::chrono::hours{24 * 14});
  EXPECT_EQ(s.prune_interval, std::chrono::hours{1});
  EXPECT_TRUE(s.filter.channels.empty());
  EXPECT_TRUE(s.common.database->migrate);
}

TEST(WorkerSettings, TheBufferHoldsFourBatchesPerLaneWhenThatIsMoreThanTheFloor) {
  auto values = kMinimal;
  values["TRACKER_BATCH_MAX_EVENTS"] = "2000";
  values["TRACKER_MAX_INFLIGHT_BATCHES"] = "3";
  Env env(fixed_environment(values));
  EXPECT_EQ(tracker::worker::load_settings(env).max_buffered, 4u * 2'000u * 3u);
  values["TRACKER_MAX_BUFFERED_EVENTS"] = "500";
  Env explicit_env(fixed_environment(values));
  EXPECT_EQ(tracker::worker::load_settings(explicit_env).max_buffered, 500u);
}

TEST(WorkerSettings, ListsAreParsedAndTrimmed) {
  auto values = kMinimal;
  values["TRACKER_WATCHED_CHANNELS"] = " C024BE91L, C1 ,,";
  values["TRACKER_ALLOWED_TEAM_IDS"] = "T061EG9R6";
  Env env(fixed_environment(values));
  const auto s = tracker::worker::load_settings(env);
  EXPECT_EQ(s.filter.channels, (std::vector<std::string>{"C024BE91L", "C1"}));
  EXPECT_EQ(s.filter.team_ids, std::vector<std::string>{"T061EG9R6"});
  EXPECT_TRUE(s.filter.app_ids.empty());
}

TEST(WorkerSettings, EveryBadVariableIsNamed) {
  auto values = kMinimal;
  values.erase("DATABASE_URL");
  values["TRACKER_WATCHED_CHANNELS"] = "general";
  values["TRACKER_DEFAULT_SUMMARY_HOUR"] = "24";
  values["TRACKER_BATCH_MAX_EVENTS"] = "0";
  values["TRACKER_DB_SCHEMA"] = "Robert'); DROP";
  values["TRACKER_BATCH_LINGER"] = "20";
  values["TRACKER_KAFKA_PREFETCH_KBYTES"] = "12";
  values["TRACKER_DB_POOL_SIZE"] = "2";  // fewer than the 4 lanes
  Env env(fixed_environment(values));
  try {
    static_cast<void>(tracker::worker::load_settings(env));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    const std::string text = error.what();
    for (const char* name :
         {"DATABASE_URL", "TRACKER_WATCHED_CHANNELS", "TRACKER_DEFAULT_SUMMARY_HOUR",
          "TRACKER_BATCH_MAX_EVENTS", "TRACKER_DB_SCHEMA", "TRACKER_BATCH_LINGER",
          "TRACKER_KAFKA_PREFETCH_KBYTES", "TRACKER_DB_POOL_SIZE"}) {
      EXPECT_NE(text.find(name), std::string::npos) << name << " not named in: " << text;
    }
    EXPECT_NE(text.find("\"general\" is not a Slack id"), std::string::npos) << text;
  }
}

}  // namespace
