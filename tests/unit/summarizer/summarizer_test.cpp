// The summarizer's settings and the offline summariser.
#include <gtest/gtest.h>

#include <tracker/messages/outbox.hpp>

#include <tracker/summarizer/offline.hpp>
#include <tracker/summarizer/settings.hpp>
#include <tracker/summarizer/summarizer.hpp>

using tracker::config::ConfigError;
using tracker::config::Env;
using tracker::config::fixed_environment;
using tracker::summarizer::LogEntry;
using tracker::summarizer::StudyContext;

namespace {

std::map<std::string, std::string> summarizer_minimal() {
  return {{"KAFKA_BROKERS", "127.0.0.1:19092"},
          {"DATABASE_URL", "postgresql://tracker@127.0.0.1:15432/tracker"}};
}

tracker::messages::SummaryRequest request_for(std::string day = "2026-12-01") {
  tracker::messages::SummaryRequest r;
  r.job_id = "T1:U1:" + day + ":v1";
  r.team_id = "T1";
  r.user_id = "U1";
  r.day = std::move(day);
  r.time_zone = "Asia/Seoul";
  return r;
}

LogEntry log(std::string time, std::string text, std::optional<int> minutes,
             std::vector<std::string> topics = {}) {
  return LogEntry{.channel = "C1",
                  .ts = "1.1",
                  .text = std::move(text),
                  .minutes = minutes,
                  .topics = std::move(topics),
                  .local_time = std::move(time)};
}

}  // namespace

TEST(SummarizerSettings, OfflineWithoutAKeyOpenAiWithOne) {
  {
    Env env(fixed_environment(summarizer_minimal()));
    const auto s = tracker::summarizer::load_settings(env);
    EXPECT_EQ(s.options.provider, "offline");
    EXPECT_EQ(s.options.max_in_flight, 64U);
    EXPECT_EQ(s.chat.max_attempts, 4);
    EXPECT_EQ(s.chat.backoff.initial, std::chrono::milliseconds{500});
    EXPECT_EQ(s.chat.backoff.max, std::chrono::milliseconds{8'000});
    EXPECT_DOUBLE_EQ(s.chat.budget.ratio, 0.2);
    EXPECT_EQ(s.common.ops_port, 9467);
  }
  auto values = summarizer_minimal();
  values["OPENAI_API_KEY"] = "sk-test";
  values["OPENAI_BASE_URL"] = "http://127.0.0.1:8080/v1";
  Env env(fixed_environment(values));
  const auto s = tracker::summarizer::load_settings(env);
  EXPECT_EQ(s.options.provider, "openai");
  EXPECT_EQ(s.openai_base_url, "http://127.0.0.1:8080/v1");
}

TEST(SummarizerSettings, EachBadVariableIsNamed) {
  auto values = summarizer_minimal();
  values["TRACKER_SUMMARIZER_PROVIDER"] = "openai";  // without a key
  values["OPENAI_BASE_URL"] = "api.openai.com";
  values["TRACKER_OPENAI_MAX_ATTEMPTS"] = "0";
  values["TRACKER_SUMMARY_DESTINATION"] = "email";
  Env env(fixed_environment(values));
  try {
    static_cast<void>(tracker::summarizer::load_settings(env));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    const std::string what = error.what();
    for (const char* name : {"TRACKER_SUMMARIZER_PROVIDER", "OPENAI_BASE_URL",
                             "TRACKER_OPENAI_MAX_ATTEMPTS", "TRACKER_SUMMARY_DESTINATION"}) {
      EXPECT_NE(what.find(name), std::string::npos) << name << " in " << what;
    }
  }
}

// The notifier paces each workspace in one process; that holds with several notifiers only while
// all of a workspace's records share a partition, so the key is the workspace, never the channel.
TEST(SummaryOutbox, RecordsAreKeyedByWorkspaceNotByChannel) {
  const auto at = std::chrono::system_clock::time_point{} + std::chrono::hours{24 * 20'000};
  struct Case {
    std::string team;
    std::string user;
    std::string channel;
  };
  const std::vector<Case> cases = {
      {"T1", "U1", "C1"}, {"T1", "U2", "C2"}, {"T1", "U3", "U3"}, {"T2", "U1", "C1"}};
  for (const auto& c : cases) {
    auto request = request_for();
    request.team_id = c.team;
    request.user_id = c.user;
    request.job_id = c.team + ":" + c.user + ":2026-12-01:v1";
    tracker::summarizer::SummaryRecord summary;
    summary.team_id = c.team;
    summary.user_id = c.user;
    summary.channel = c.channel;
    summary.text = "summary";
    const auto record = tracker::summarizer::outbox_record("outbox", request, summary, at);
    EXPECT_EQ(record.topic, "outbox");
    EXPECT_EQ(record.key, c.team) << c.channel;
    const auto decoded = tracker::messages::decode_outbox(record.value);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
    EXPECT_EQ(decoded->team_id, c.team);
    EXPECT_EQ(decoded->channel, c.channel);
    EXPECT_EQ(decoded->delivery_id, "summary:" + request.job_id);
    EXPECT_EQ(tracker::messages::outbox_key(*decoded), record.key);
  }
}

TEST(OfflineSummary, TotalsTopicsStreakAndChange) {
  StudyContext context;
  context.logs = {log("09:10", "Kafka consumer groups", 90, {"kafka"}),
                  log("14:00", "Spark joins", 60, {"spark", "kafka"})};
  context.logs_total = 2;
  context.previous_minutes = 120;
  context.previous_logs = 2;
  context.previous_topics = {"kafka"};
  context.active_days = {"2026-11-30", "2026-11-29", "2026-11-27"};
  const auto request = request_for();
  const auto facts = tracker::summarizer::facts_of(request, context);
  EXPECT_EQ(facts.total_minutes, 150);
  EXPECT_EQ(facts.streak_days, 3);  // 12-01, 11-30, 11-29; 11-28 is missing
  EXPECT_EQ(facts.topics, (std::vector<std::string>{"kafka", "spark"}));
  EXPECT_EQ(facts.new_topics, (std::vector<std::string>{"spark"}));
  EXPECT_EQ(facts.language, "en");
  const std::string text = tracker::summarizer::offline_summary(request, context);
  EXPECT_NE(text.find("2026-12-01"), std::string::npos) << text;
  EXPECT_NE(text.find("2 entries, 2 h 30 min in total"), std::string::npos) << text;
  EXPECT_NE(text.find("#kafka, #spark"), std::string::npos) << text;
  EXPECT_NE(text.find("3-day streak"), std::string::npos) << text;
  EXPECT_NE(text.find("+30 min"), std::string::npos) << text;
  EXPECT_NE(text.find("New topics: #spark"), std::string::npos) << text;
  EXPECT_NE(text.find("09:10 Kafka consumer groups (1 h 30 min)"), std::string::npos) << text;
  // Deterministic.
  EXPECT_EQ(text, tracker::summarizer::offline_summary(request, context));
}

TEST(OfflineSummary, WritesKoreanForKoreanLogs) {
  StudyContext context;
  context.logs = {log("20:00", "카프카 파티션 공부 1시간 반", 90, {"카프카"})};
  context.logs_total = 1;
  const std::string text = tracker::summarizer::offline_summary(request_for(), context);
  EXPECT_NE(text.find("학습 요약"), std::string::npos) << text;
  EXPECT_NE(text.find("1시간 30분"), std::string::npos) << text;
  EXPECT_NE(text.find("#카프카"), std::string::npos) << text;
}

TEST(OfflineSummary, LogTextCannotPingTheChannel) {
  StudyContext context;
  context.logs = {log("10:00", "done <!channel> <@U999> & more", 30)};
  context.logs_total = 1;
  const std::string text = tracker::summarizer::offline_summary(request_for(), context);
  EXPECT_EQ(text.find("<!channel>"), std::string::npos) << text;
  EXPECT_NE(text.find("&lt;!channel&gt; &lt;@U999&gt; &amp; more"), std::string::npos) << text;
}

TEST(OfflineSummary, ADayWithoutLogsSaysSo) {
  const std::string text = tracker::summarizer::offline_summary(request_for(), StudyContext{});
  EXPECT_NE(text.find("No study logged today"), std::string::npos) << text;
}

TEST(OfflineSummary, ShowsAtMostFiveHighlightsAndCountsTheRest) {
  StudyContext context;
  for (int i = 0; i < 8; ++i) {
    context.logs.push_back(
        log("1" + std::to_string(i) + ":00", "item " + std::to_string(i), 10 + i));
  }
  context.logs_total = 12;  // more in the period than were loaded
  const std::string text = tracker::summarizer::offline_summary(request_for(), context);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n') >= 5, true);
  EXPECT_NE(text.find("and 7 more"), std::string::npos) << text;
  EXPECT_EQ(text.find("item 0"), std::string::npos) << text;  // the shortest left out
  EXPECT_NE(text.find("item 7"), std::string::npos) << text;
}
