// The scheduler against the real broker and PostgreSQL: claims once across replicas, catches up
// after downtime, re-publishes what is not finished, and the manual trigger.
#include <gtest/gtest.h>

#include <set>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <tracker/http/client.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/timestamp.hpp>
#include <tracker/messages/summary_request.hpp>
#include <tracker/pg/pool.hpp>

#include <tracker/scheduler/scheduler.hpp>
#include "in_process_scheduler.hpp"
#include "summaries_support.hpp"
#include "topic_checks.hpp"

namespace {

using InProcess = tracker::testing::InProcessScheduler;

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::scheduler::Scheduler;
using tracker::scheduler::SchedulerOptions;
using tracker::testing::ScratchSchema;
using tracker::testing::ScratchTopic;
using tracker::testing::wait_for;

std::chrono::system_clock::time_point at(const char* iso) {
  return *tracker::log::parse_iso8601_utc(iso);
}

std::vector<tracker::messages::SummaryRequest> requests_in(const std::string& topic,
                                                           std::size_t expected) {
  std::vector<tracker::messages::SummaryRequest> out;
  for (const auto& record : tracker::testing::read_records(topic, expected)) {
    auto decoded = tracker::messages::decode_summary_request(record.value);
    EXPECT_TRUE(decoded.has_value()) << record.value;
    if (decoded.has_value()) {
      EXPECT_EQ(record.key, decoded->key());
      out.push_back(*decoded);
    }
  }
  return out;
}

struct SchedulerTest : ::testing::Test {
  SchedulerTest() { tracker::testing::migrate(schema.name()); }
  std::string q(const std::string& sql) const {
    return "SET search_path TO " + schema.name() + "; " + sql;
  }
  ScratchSchema schema;
  ScratchTopic topic{6};
};

}  // namespace

TEST_F(SchedulerTest, ThreeReplicasClaimEachDayOnce) {
  // 1,000 people whose summary (00:00 UTC) is due today, each with logs in the period.
  tracker::testing::seed_people(schema.name(), 1'000, "UTC", 0, 2,
                                "date_trunc('day', now()) - interval '3 hours'");
  std::vector<std::unique_ptr<tracker::testing::Service>> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(std::make_unique<tracker::testing::Service>(
        TRACKER_SCHEDULER_BINARY,
        std::vector<std::string>{"TRACKER_DB_SCHEMA=" + schema.name(),
                                 "TRACKER_SCHEDULER_TOPIC=" + topic.name(),
                                 "TRACKER_SCHEDULER_INSTANCE=replica-" + std::to_string(i),
                                 "TRACKER_SCHEDULER_TICK_INTERVAL=100ms",
                                 // Small claims, so that the replicas' ticks interleave.
                                 "TRACKER_SCHEDULER_CLAIM_BATCH=50"}));
  }
  for (auto& replica : replicas) {
    ASSERT_EQ(tracker::testing::wait_ready(replica->port(), 30s).first, 200U);
  }
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'published'"), "1000", 60s),
            "1000");
  std::this_thread::sleep_for(1s);  // more ticks by every replica: still nothing new
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs")), "1000");
  EXPECT_EQ(
      ScratchSchema::exec(q("SELECT count(DISTINCT (team_id, user_id, day)) FROM summary_jobs")),
      "1000");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs WHERE publishes <> 1")), "0");
  const auto requests = requests_in(topic.name(), 1'000);
  std::set<std::string> jobs;
  for (const auto& r : requests) jobs.insert(r.job_id);
  EXPECT_EQ(requests.size(), 1'000U) << "each claimed day is published exactly once";
  EXPECT_EQ(jobs.size(), 1'000U);
  for (auto& replica : replicas) EXPECT_EQ(replica->terminate(), 0);
  std::cout << "claims by replica: "
            << ScratchSchema::exec(q("SELECT string_agg(claimed_by || '=' || n, ', ') FROM "
                                     "(SELECT claimed_by, count(*) AS n FROM summary_jobs "
                                     "GROUP BY claimed_by ORDER BY 1) AS c"))
            << "\n";
}

TEST_F(SchedulerTest, CatchesUpAfterThreeHoursDown) {
  // The scheduler last ran at 08:59; it comes back at 12:30 with a 3 h catch-up window.
  const auto now = at("2026-12-01T12:30:00Z");
  ScratchSchema::exec(
      q("INSERT INTO scheduler_state (name, last_tick) "
        "VALUES ('scheduler', '2026-12-01T08:59:00Z')"));
  // U00001 due 09:00 (3.5 h ago: skipped), U00002 10:00, U00003 11:00, U00004 12:00 (claimed as
  // catch-up), U00005 13:00 (not due yet); each logged in the 24 h before its summary hour.
  for (int i = 1; i <= 5; ++i) {
    tracker::testing::seed_people(schema.name(), 1, "UTC", 8 + i, 1,
                                  "'2026-12-01T0" + std::to_string(i) + ":00:00Z'::timestamptz", i);
  }
  tracker::testing::seed_people(schema.name(), 1, "UTC", 11, 0, "", 6);  // due, but logged nothing
  SchedulerOptions options;
  options.catch_up_window = 3h;
  options.job_timeout = 24h;  // no summarizer here: nothing is re-published meanwhile
  InProcess s(schema.name(), topic.name(), options);
  const auto report = s.tick(now);
  EXPECT_EQ(report.claimed, 3U);
  EXPECT_EQ(report.catch_up, 3U);
  EXPECT_EQ(report.skipped, 1U);
  EXPECT_EQ(report.published, 3U);
  EXPECT_EQ(
      ScratchSchema::exec(q("SELECT string_agg(user_id || ' ' || reason, ',' ORDER BY user_id) "
                            "FROM summary_jobs")),
      "U00002 catch_up,U00003 catch_up,U00004 catch_up");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT period_start || '/' || period_end FROM summary_jobs "
                                  "WHERE user_id = 'U00003'")),
            ScratchSchema::exec("SELECT '2026-11-30T11:00:00Z'::timestamptz || '/' || "
                                "'2026-12-01T11:00:00Z'::timestamptz"));
  // The next tick a minute later claims and skips nothing more.
  const auto again = s.tick(now + 1min);
  EXPECT_EQ(again.claimed, 0U);
  EXPECT_EQ(again.skipped, 0U);
  // At 13:00 U00005's summary is due on time: scheduled, not catch-up.
  const auto on_time = s.tick(at("2026-12-01T13:00:30Z"));
  EXPECT_EQ(on_time.claimed, 1U);
  EXPECT_EQ(on_time.catch_up, 0U);
  EXPECT_EQ(requests_in(topic.name(), 4).size(), 4U);
}

TEST_F(SchedulerTest, RepublishesUnfinishedJobsABoundedNumberOfTimesThenFails) {
  tracker::testing::seed_people(schema.name(), 10, "Asia/Seoul", 21, 1,
                                "'2026-12-01T05:00:00Z'::timestamptz");
  SchedulerOptions options;
  options.job_timeout = 10s;
  options.max_publishes = 3;
  InProcess s(schema.name(), topic.name(), options);
  const auto t0 = at("2026-12-01T12:00:30Z");  // 21:00:30 in Seoul
  EXPECT_EQ(s.tick(t0).claimed, 10U);
  // One job is in a batch the API is still running: it is answered within the batch's window,
  // so the sweep leaves it alone however long that takes.
  ScratchSchema::exec(
      q("INSERT INTO summary_batches (batch_id, input_file_id, jobs) VALUES ('batch_1', 'file_1', "
        "1); UPDATE summary_jobs SET batch_id = 'batch_1' WHERE user_id = 'U00002'"));
  EXPECT_EQ(s.tick(t0 + 5s).republished, 0U);  // not yet timed out
  EXPECT_EQ(s.tick(t0 + 11s).republished, 9U);
  // One of them finishes meanwhile; another was deferred by the summarizer after an outage.
  ScratchSchema::exec(
      q("UPDATE summary_jobs SET state = 'done' WHERE user_id = 'U00001'; "
        "UPDATE summary_jobs SET last_error = 'gave up after 4 attempts; last "
        "error: HTTP 503' WHERE user_id = 'U00003'"));
  EXPECT_EQ(s.tick(t0 + 22s).republished, 8U);
  const auto last = s.tick(t0 + 33s);
  EXPECT_EQ(last.republished, 0U);
  EXPECT_EQ(last.timed_out, 8U);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs WHERE state = 'failed' AND "
                                  "last_error LIKE 'not finished after 3 publishes%'")),
            "8");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs WHERE state = 'failed' AND "
                                  "last_error LIKE '%; last error: gave up after 4 attempts%'")),
            "1");
  const auto requests = requests_in(topic.name(), 10 + 9 + 8);
  EXPECT_EQ(requests.size(), 27U);
  int third = 0;
  for (const auto& r : requests) third += r.publish == 3 ? 1 : 0;
  EXPECT_EQ(third, 8);
  // Once the batch is applied, a job it did not finish is the sweep's again.
  ScratchSchema::exec(q("UPDATE summary_batches SET state = 'applied' WHERE batch_id = 'batch_1'"));
  EXPECT_EQ(s.tick(t0 + 44s).republished, 1U);
}

TEST_F(SchedulerTest, TriggerIsIdempotentUnlessForced) {
  tracker::testing::seed_people(schema.name(), 5, "Asia/Seoul", 21, 1,
                                "'2026-12-01T01:00:00Z'::timestamptz");
  tracker::testing::seed_people(schema.name(), 1, "Asia/Seoul", 21, 0, "", 6);  // no logs
  SchedulerOptions options;
  options.job_timeout = 24h;  // no summarizer here: nothing is re-published meanwhile
  InProcess s(schema.name(), topic.name(), options);
  const auto now = at("2026-12-01T06:00:00Z");  // 15:00 in Seoul, before the summary hour
  tracker::scheduler::TriggerRequest one{.team_id = "T1", .user_id = "U00001"};
  const auto first = s.trigger(one, now);
  EXPECT_EQ(first.claimed, 1U);
  EXPECT_EQ(first.published, 1U);
  ASSERT_EQ(first.jobs.size(), 1U);
  EXPECT_EQ(first.jobs[0], "T1:U00001:2026-12-01:v1");
  // Before the summary hour the period ends now.
  EXPECT_EQ(ScratchSchema::exec(q("SELECT period_end = '2026-12-01T06:00:00Z' FROM summary_jobs")),
            "t");
  const auto again = s.trigger(one, now + 1min);
  EXPECT_EQ(again.claimed, 0U);
  EXPECT_EQ(again.already_claimed, 1U);
  one.force = true;
  const auto forced = s.trigger(one, now + 2min);
  ASSERT_EQ(forced.jobs.size(), 1U);
  EXPECT_EQ(forced.jobs[0], "T1:U00001:2026-12-01:v2");
  // The whole team: the four others with logs (U00006 logged nothing).
  const auto team = s.trigger({.team_id = "T1"}, now + 3min);
  EXPECT_EQ(team.claimed, 4U);
  EXPECT_EQ(team.already_claimed, 1U);
  // Everyone, logs or not, for a given past day.
  const auto everyone = s.trigger({.day = "2026-11-30", .require_activity = false}, now + 4min);
  EXPECT_EQ(everyone.claimed, 6U);
  // U00007, who joins later, asks just after the summary hour: the day that just ended is the
  // scheduler's to summarize, and the running period (since 21:00) holds nothing of U00007's.
  tracker::testing::seed_people(schema.name(), 1, "Asia/Seoul", 21, 1,
                                "'2026-12-01T02:00:00Z'::timestamptz", 7);
  const auto on_the_hour =
      s.trigger({.team_id = "T1", .user_id = "U00007"}, at("2026-12-01T12:00:10Z"));
  EXPECT_EQ(on_the_hour.matched, 0U);
  EXPECT_TRUE(on_the_hour.jobs.empty());
  // The triggers at 15:00 covered the day until then. At 21:00 the day's scheduled summary still
  // comes, covering the whole period, as the day's next version; once.
  const auto scheduled = s.tick(at("2026-12-01T12:00:30Z"));
  EXPECT_EQ(scheduled.claimed, 6U);
  EXPECT_EQ(scheduled.catch_up, 0U);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT string_agg(job_id, ',' ORDER BY user_id) FROM "
                                  "summary_jobs WHERE reason = 'scheduled' AND "
                                  "period_start = '2026-11-30T12:00:00Z' AND "
                                  "period_end = '2026-12-01T12:00:00Z'")),
            "T1:U00001:2026-12-01:v3,T1:U00002:2026-12-01:v2,T1:U00003:2026-12-01:v2,"
            "T1:U00004:2026-12-01:v2,T1:U00005:2026-12-01:v2,T1:U00007:2026-12-01:v1");
  EXPECT_EQ(s.tick(at("2026-12-01T12:01:30Z")).claimed, 0U);
  // Moving one's summary hour later, once the day's summary was claimed, brings no second one.
  ScratchSchema::exec(q("UPDATE users SET summary_hour = 22 WHERE user_id = 'U00001'"));
  EXPECT_EQ(s.tick(at("2026-12-01T13:00:30Z")).claimed, 0U);
  // What is posted after the summary hour is the next day's: U00008 posts at 22:05 in Seoul and
  // asks at 22:10, and gets a summary of the period running since 21:00, as 2 December's.
  tracker::testing::seed_people(schema.name(), 1, "Asia/Seoul", 21, 1,
                                "'2026-12-01T13:05:00Z'::timestamptz", 8);
  const auto after_the_hour =
      s.trigger({.team_id = "T1", .user_id = "U00008"}, at("2026-12-01T13:10:00Z"));
  ASSERT_EQ(after_the_hour.jobs.size(), 1U);
  EXPECT_EQ(after_the_hour.jobs[0], "T1:U00008:2026-12-02:v1");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT period_start = '2026-12-01T12:00:00Z' AND "
                                  "period_end = '2026-12-01T13:10:00Z' FROM summary_jobs "
                                  "WHERE user_id = 'U00008'")),
            "t");
  EXPECT_EQ(requests_in(topic.name(), 19).size(), 19U);
}

TEST_F(SchedulerTest, TriggerEndpointNeedsTheAdminToken) {
  tracker::testing::seed_people(schema.name(), 3, "UTC", 0, 1,
                                "date_trunc('day', now()) - interval '1 hour'");
  tracker::testing::Service scheduler(
      TRACKER_SCHEDULER_BINARY,
      {"TRACKER_DB_SCHEMA=" + schema.name(), "TRACKER_SCHEDULER_TOPIC=" + topic.name(),
       "TRACKER_ADMIN_TOKEN=admin-token-for-tests", "TRACKER_SCHEDULER_TICK_INTERVAL=1h"});
  ASSERT_EQ(tracker::testing::wait_ready(scheduler.port(), 30s).first, 200U);
  asio::io_context io;
  tracker::http::Client client(
      io.get_executor(), {.base_url = "http://127.0.0.1:" + std::to_string(scheduler.port())});
  auto post = [&](std::string body, std::string token) {
    tracker::http::Headers headers{{"Content-Type", "application/json"}};
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto reply =
        tracker::testing::run(io, client.send(tracker::http::beast_http::verb::post, "/trigger",
                                              std::move(body), std::move(headers)));
    EXPECT_TRUE(reply.has_value());
    return reply ? std::make_pair(reply->result_int(), reply->body())
                 : std::make_pair(0U, std::string());
  };
  EXPECT_EQ(post("{}", "").first, 401U);
  EXPECT_EQ(post("{}", "wrong-token-wrong-token").first, 401U);
  const auto bad = post(R"({"user_id":"U00001"})", "admin-token-for-tests");
  EXPECT_EQ(bad.first, 400U);
  EXPECT_NE(bad.second.find("needs team_id"), std::string::npos) << bad.second;
  // The scheduler's own first tick has claimed today for the three (the period that ended at
  // midnight). A trigger is for the period running since then: once each has posted in it, a
  // trigger claims it, a second one without force changes nothing, one with force claims a
  // second version.
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs"), "3", 30s), "3");
  ScratchSchema::exec(
      q("INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at) "
        "SELECT 'T1', user_id, 'C1', '2.' || user_id, 'EvNow' || user_id, 'kafka 1h', "
        "greatest(now() - interval '1 minute', date_trunc('day', now())) FROM users"));
  const auto first = post(R"({"team_id":"T1"})", "admin-token-for-tests");
  ASSERT_EQ(first.first, 200U) << first.second;
  EXPECT_EQ(nlohmann::json::parse(first.second)["claimed"], 3) << first.second;
  const auto same = post(R"({"team_id":"T1"})", "admin-token-for-tests");
  ASSERT_EQ(same.first, 200U) << same.second;
  EXPECT_EQ(nlohmann::json::parse(same.second)["already_claimed"], 3) << same.second;
  const auto ok = post(R"({"team_id":"T1","force":true})", "admin-token-for-tests");
  ASSERT_EQ(ok.first, 200U) << ok.second;
  const auto body = nlohmann::json::parse(ok.second);
  EXPECT_EQ(body["claimed"], 3);
  ASSERT_EQ(body["jobs"].size(), 3U) << ok.second;
  EXPECT_TRUE(body["jobs"].at(0).get<std::string>().ends_with(":v2")) << ok.second;
  EXPECT_EQ(body["published"], 3);
  EXPECT_EQ(body["scope"], "team");
  std::string metrics;
  ASSERT_EQ(tracker::testing::http_get(scheduler.port(), "/metrics", &metrics), 200U);
  EXPECT_NE(metrics.find("tracker_scheduler_claimed_total{reason=\"trigger\"} 6"),
            std::string::npos);
  EXPECT_EQ(scheduler.terminate(), 0);
}

// A workspace that uninstalled the app gets no scheduled summaries while its data awaits
// deletion; a reinstall brings them back.
TEST_F(SchedulerTest, NoSummariesForAWorkspaceThatUninstalledTheApp) {
  const auto now = at("2026-12-01T12:00:30Z");
  tracker::testing::seed_people(schema.name(), 2, "UTC", 12, 1,
                                "'2026-12-01T06:00:00Z'::timestamptz");
  ScratchSchema::exec(
      q("UPDATE users SET team_id = 'T2' WHERE user_id = 'U00002'; "
        "UPDATE study_logs SET team_id = 'T2' WHERE user_id = 'U00002'; "
        "INSERT INTO slack_workspaces (team_id, revoked_at, revoke_reason, "
        "delete_after) VALUES ('T2', now(), 'app_uninstalled', now() + "
        "interval '30 days')"));
  SchedulerOptions options;
  options.job_timeout = 24h;
  InProcess s(schema.name(), topic.name(), options);
  EXPECT_EQ(s.tick(now).claimed, 1U);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT string_agg(team_id || ':' || user_id, ',') FROM "
                                  "summary_jobs")),
            "T1:U00001");
  ScratchSchema::exec(q("UPDATE slack_workspaces SET revoked_at = NULL, delete_after = NULL"));
  EXPECT_EQ(s.tick(now + 1min).claimed, 1U);
}
