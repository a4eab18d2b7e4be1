// The scheduler's settings and the POST /trigger body.
#include <gtest/gtest.h>

#include <tracker/scheduler/scheduler.hpp>
#include <tracker/scheduler/settings.hpp>

using tracker::config::ConfigError;
using tracker::config::Env;
using tracker::config::fixed_environment;
using tracker::scheduler::parse_trigger;

namespace {

std::map<std::string, std::string> scheduler_minimal() {
  return {{"KAFKA_BROKERS", "127.0.0.1:19092"},
          {"DATABASE_URL", "postgresql://tracker@127.0.0.1:15432/tracker"}};
}

std::string scheduler_error_of(std::string_view body) {
  try {
    static_cast<void>(parse_trigger(body));
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(SchedulerSettings, Defaults) {
  Env env(fixed_environment(scheduler_minimal()));
  const auto s = tracker::scheduler::load_settings(env);
  EXPECT_EQ(s.options.topic, "summary-requests");
  EXPECT_EQ(s.options.tick_interval, std::chrono::seconds{60});
  EXPECT_EQ(s.options.catch_up_window, std::chrono::hours{36});
  EXPECT_TRUE(s.options.require_activity);
  EXPECT_EQ(s.options.max_publishes, 3);
  EXPECT_TRUE(s.admin_token.empty());
  EXPECT_EQ(s.common.ops_port, 9466);
  EXPECT_FALSE(s.options.instance.empty());
}

TEST(SchedulerSettings, EachBadVariableIsNamed) {
  auto values = scheduler_minimal();
  values["TRACKER_ADMIN_TOKEN"] = "zq9-secret";
  values["TRACKER_SCHEDULER_TICK_INTERVAL"] = "60";
  values["TRACKER_SCHEDULER_CATCH_UP_WINDOW"] = "40d";
  values["TRACKER_SUMMARY_MAX_PUBLISHES"] = "0";
  Env env(fixed_environment(values));
  try {
    static_cast<void>(tracker::scheduler::load_settings(env));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    const std::string what = error.what();
    for (const char* name :
         {"TRACKER_ADMIN_TOKEN", "TRACKER_SCHEDULER_TICK_INTERVAL",
          "TRACKER_SCHEDULER_CATCH_UP_WINDOW", "TRACKER_SUMMARY_MAX_PUBLISHES"}) {
      EXPECT_NE(what.find(name), std::string::npos) << name << " in " << what;
    }
    EXPECT_EQ(what.find("zq9-secret"), std::string::npos) << "the token's value must not be shown";
  }
}

TEST(TriggerBody, ScopesFromEveryoneToOneUser) {
  const auto everyone = parse_trigger("");
  EXPECT_FALSE(everyone.team_id);
  EXPECT_FALSE(everyone.force);
  EXPECT_FALSE(parse_trigger("{}").team_id);
  const auto team = parse_trigger(R"({"team_id":"T1"})");
  EXPECT_EQ(team.team_id, "T1");
  EXPECT_FALSE(team.user_id);
  const auto user =
      parse_trigger(R"({"team_id":"T1","user_id":"U1","day":"2026-12-01","force":true})");
  EXPECT_EQ(user.user_id, "U1");
  EXPECT_EQ(user.day, "2026-12-01");
  EXPECT_TRUE(user.force);
  EXPECT_EQ(parse_trigger(R"({"require_activity":false})").require_activity, false);
}

TEST(TriggerBody, RejectsWhatItCannotDo) {
  EXPECT_NE(scheduler_error_of("[1]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(scheduler_error_of(R"({"user_id":"U1"})").find("needs team_id"), std::string::npos);
  EXPECT_NE(scheduler_error_of(R"({"team_id":"T1","day":"2026-02-30"})").find("day"),
            std::string::npos);
  EXPECT_NE(scheduler_error_of(R"({"team_id":"T1","day":"yesterday"})").find("day"),
            std::string::npos);
  EXPECT_NE(scheduler_error_of(R"({"force":"yes"})").find("force"), std::string::npos);
  EXPECT_NE(scheduler_error_of(R"({"teamid":"T1"})").find("unknown field \"teamid\""),
            std::string::npos);
  EXPECT_NE(scheduler_error_of(R"({"team_id":""})").find("team_id"), std::string::npos);
}
