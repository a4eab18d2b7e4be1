// The summarizer binary against the real broker and PostgreSQL, calling the OpenAI simulator:
// every job summarized exactly once despite 429s and 500s, refusals not retried, a SIGKILL
// mid-run losing and duplicating nothing (down to the Slack posts), and the offline provider.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include <tracker/messages/outbox.hpp>

#include <tracker/scheduler/scheduler.hpp>
#include "openai_simulator.hpp"
#include "slack_simulator.hpp"
#include "summaries_support.hpp"
#include "topic_checks.hpp"

namespace {

using namespace std::chrono_literals;
using tracker::loadtest::OpenAiSimulatorOptions;
using tracker::loadtest::OpenAiSimulatorThread;
using tracker::testing::ScratchSchema;
using tracker::testing::ScratchTopic;
using tracker::testing::Service;
using tracker::testing::wait_for;

struct SummarizerTest : ::testing::Test {
  SummarizerTest() { tracker::testing::migrate(schema.name()); }
  std::string q(const std::string& sql) const {
    return "SET search_path TO " + schema.name() + "; " + sql;
  }

  // Claims today's summary (due at 00:00 UTC) for `people` seeded people, with the scheduler
  // binary's trigger-free path: one tick, then the scheduler stops.
  void claim(int people, int logs_each = 2) {
    tracker::testing::seed_people(schema.name(), people, "UTC", 0, logs_each,
                                  "date_trunc('day', now()) - interval '5 hours'");
    Service scheduler(TRACKER_SCHEDULER_BINARY, {"TRACKER_DB_SCHEMA=" + schema.name(),
                                                 "TRACKER_SCHEDULER_TOPIC=" + requests.name(),
                                                 "TRACKER_SCHEDULER_TICK_INTERVAL=1h"});
    const std::string expected = std::to_string(people);
    ASSERT_EQ(
        wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'published'"), expected, 60s),
        expected);
    ASSERT_EQ(scheduler.terminate(), 0);
  }

  std::unique_ptr<Service> start_summarizer(const OpenAiSimulatorThread* openai,
                                            std::vector<std::string> extra = {}) {
    std::vector<std::string> env = {"TRACKER_DB_SCHEMA=" + schema.name(),
                                    "TRACKER_SUMMARIZER_TOPIC=" + requests.name(),
                                    "TRACKER_SUMMARIZER_GROUP=" + group,
                                    "TRACKER_SUMMARIZER_OUTBOX_TOPIC=" + outbox.name(),
                                    "TRACKER_SUMMARIZER_DLQ_TOPIC=" + dlq.name(),
                                    "TRACKER_OPENAI_RETRY_INITIAL=20ms",
                                    "TRACKER_OPENAI_RETRY_MAX=200ms",
                                    "TRACKER_OPENAI_REQUESTS_PER_MINUTE=600000",
                                    "TRACKER_OPENAI_TOKENS_PER_MINUTE=1000000000",
                                    "TRACKER_SHUTDOWN_GRACE=2s"};
    if (openai != nullptr) {
      env.push_back("OPENAI_API_KEY=sk-simulated");
      env.push_back("OPENAI_BASE_URL=" + openai->base_url());
    }
    for (auto& e : extra) env.push_back(std::move(e));
    auto service = std::make_unique<Service>(TRACKER_SUMMARIZER_BINARY, std::move(env));
    EXPECT_EQ(tracker::testing::wait_ready(service->port(), 30s).first, 200U);
    return service;
  }

  // The outbox records, decoded, by delivery_id.
  std::map<std::string, std::vector<tracker::messages::OutboxMessage>> outbox_by_delivery(
      std::size_t expected) {
    std::map<std::string, std::vector<tracker::messages::OutboxMessage>> out;
    for (const auto& record : tracker::testing::read_records(outbox.name(), expected)) {
      auto decoded = tracker::messages::decode_outbox(record.value);
      EXPECT_TRUE(decoded.has_value()) << record.value;
      if (decoded.has_value()) {
        EXPECT_EQ(record.key, decoded->team_id);  // the workspace, not the channel
        out[decoded->delivery_id].push_back(*decoded);
      }
    }
    return out;
  }

  ScratchSchema schema;
  ScratchTopic requests{6};
  ScratchTopic outbox{6};
  ScratchTopic dlq{1};
  std::string group = tracker::testing::unique_name("summarizer");
};

}  // namespace

TEST_F(SummarizerTest, FiveHundredSummariesExactlyOnceDespite429sAnd500s) {
  OpenAiSimulatorThread openai({.latency_median_ms = 20,
                                .latency_p99_ms = 80,
                                .inject_429_rate = 0.10,
                                .inject_500_rate = 0.02,
                                .seed = 5});
  claim(500);
  // Six attempts: with 12 % of requests failing, four would leave a job failing every ~2,000.
  auto summarizer = start_summarizer(&openai, {"TRACKER_OPENAI_MAX_ATTEMPTS=6"});
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'done'"), "500", 120s),
            "500");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summaries WHERE provider = 'openai' "
                                  "AND text LIKE '<@U%> Simulated feedback%' AND logs = 2")),
            "500");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summaries WHERE channel = 'C0STUDY'")),
            "500");
  const auto stats = openai.simulator().stats();
  EXPECT_GT(stats.injected_429, 0U);
  EXPECT_GT(stats.injected_500, 0U);
  EXPECT_EQ(stats.completed, 500U);
  EXPECT_EQ(stats.by_user.size(), 500U);
  for (const auto& [user, count] : stats.by_user) EXPECT_EQ(count, 1U) << user;
  EXPECT_LE(static_cast<double>(stats.completions), 500 * 1.25)
      << "calls per job stay near 1 + the injected failure rate";
  EXPECT_EQ(ScratchSchema::exec(q("SELECT sum(attempts) FROM summaries")),
            std::to_string(stats.completions));
  const auto delivered = outbox_by_delivery(500);
  EXPECT_EQ(delivered.size(), 500U);
  for (const auto& [id, copies] : delivered) EXPECT_EQ(copies.size(), 1U) << id;
  std::string metrics;
  ASSERT_EQ(tracker::testing::http_get(summarizer->port(), "/metrics", &metrics), 200U);
  EXPECT_NE(metrics.find("tracker_llm_retries_total{cause=\"429\"}"), std::string::npos);
  EXPECT_NE(metrics.find("tracker_llm_retries_total{cause=\"500\"}"), std::string::npos);
  EXPECT_NE(metrics.find("tracker_summarizer_jobs_total{outcome=\"done\"} 500"), std::string::npos);
  EXPECT_EQ(summarizer->terminate(), 0);
}

TEST_F(SummarizerTest, InsufficientQuotaFailsJobsWithoutRetries) {
  OpenAiSimulatorThread openai({.quota_exhausted = true});
  claim(20);
  auto summarizer = start_summarizer(&openai);
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'failed' AND last_error "
                       "LIKE '%insufficient_quota%not retried%'"),
                     "20", 60s),
            "20");
  EXPECT_EQ(openai.simulator().stats().completions, 20U);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summaries")), "0");
  EXPECT_TRUE(tracker::testing::read_records(outbox.name(), 0, 1s).empty());
  EXPECT_EQ(summarizer->terminate(), 0);
}

TEST_F(SummarizerTest, AnOutageDefersJobsToTheSchedulerInsteadOfFailingThem) {
  OpenAiSimulatorThread openai({.inject_503_rate = 1.0});
  claim(5);
  auto summarizer = start_summarizer(
      &openai, {"TRACKER_OPENAI_MAX_ATTEMPTS=2", "TRACKER_OPENAI_BREAKER_FAILURES=1000"});
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'published' AND "
                       "last_error LIKE 'gave up after 2 attempts%503%'"),
                     "5", 60s),
            "5");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs WHERE state = 'failed'")),
            "0");
  EXPECT_EQ(openai.simulator().stats().completions, 10U);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summaries")), "0");
  EXPECT_TRUE(tracker::testing::read_records(outbox.name(), 0, 1s).empty());
  std::string metrics;
  ASSERT_EQ(tracker::testing::http_get(summarizer->port(), "/metrics", &metrics), 200U);
  EXPECT_NE(metrics.find("tracker_summarizer_jobs_total{outcome=\"deferred\"} 5"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(summarizer->terminate(), 0);
}

TEST_F(SummarizerTest, SigkillMidRunLosesAndDuplicatesNothing) {
  // The whole tail: summarizer -> slack-outbox -> notifier -> Slack simulator.
  OpenAiSimulatorThread openai({.latency_median_ms = 150, .latency_p99_ms = 400, .seed = 9});
  tracker::loadtest::SimulatorThread slack({.channel_per_second = 5'000,
                                            .channel_burst = 1'000,
                                            .workspace_per_minute = 6'000'000,
                                            .workspace_burst = 5'000});
  claim(300, 1);
  Service notifier(
      TRACKER_NOTIFIER_BINARY,
      {"TRACKER_DB_SCHEMA=" + schema.name(), "TRACKER_NOTIFIER_TOPIC=" + outbox.name(),
       "TRACKER_NOTIFIER_DLQ_TOPIC=" + dlq.name(),
       "TRACKER_NOTIFIER_GROUP=" + tracker::testing::unique_name("notifier"),
       "SLACK_API_BASE_URL=" + slack.base_url(), "SLACK_BOT_TOKEN=xoxb-simulated",
       "TRACKER_SLACK_CHANNEL_PER_MINUTE=300000", "TRACKER_SLACK_CHANNEL_BURST=1000",
       "TRACKER_SLACK_WORKSPACE_PER_MINUTE=6000000", "TRACKER_SLACK_WORKSPACE_BURST=5000"});
  ASSERT_EQ(tracker::testing::wait_ready(notifier.port(), 30s).first, 200U);
  auto first = start_summarizer(&openai, {"TRACKER_SUMMARIZER_MAX_IN_FLIGHT=16"});
  // Kill it with about a third done and jobs in flight.
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::stoi(ScratchSchema::exec(q("SELECT count(*) FROM summaries"))) < 100 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  first->kill_hard();
  const int done_at_kill = std::stoi(ScratchSchema::exec(q("SELECT count(*) FROM summaries")));
  EXPECT_GE(done_at_kill, 100);
  EXPECT_LT(done_at_kill, 300);
  auto second = start_summarizer(&openai, {"TRACKER_SUMMARIZER_MAX_IN_FLIGHT=16"});
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'done'"), "300", 120s),
            "300");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summaries")), "300");
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"), "300", 60s),
            "300");
  // Every summary reached Slack exactly once, with the text that was stored.
  std::this_thread::sleep_for(1s);
  const auto posted = slack.simulator().messages();
  std::map<std::string, int> per_user;
  for (const auto& message : posted) {
    const auto end = message.text.find('>');
    ASSERT_NE(end, std::string::npos) << message.text;
    ++per_user[message.text.substr(2, end - 2)];
  }
  EXPECT_EQ(posted.size(), 300U);
  EXPECT_EQ(per_user.size(), 300U);
  for (const auto& [user, count] : per_user) EXPECT_EQ(count, 1) << user;
  // Model calls: at most one per job, plus the ones in flight when the first process died.
  EXPECT_LE(openai.simulator().stats().completed, 300U + 16U);
  EXPECT_EQ(second->terminate(), 0);
  EXPECT_EQ(notifier.terminate(), 0);
}

TEST_F(SummarizerTest, BatchModeAppliesResultsAndCallsDirectlyWhatTheBatchFailed) {
  OpenAiSimulatorThread openai({.batch_duration = 3s, .batch_fail_rate = 0.2, .seed = 21});
  claim(60);
  auto summarizer = start_summarizer(
      &openai,
      {"TRACKER_SUMMARIZER_BATCH=true", "TRACKER_SUMMARIZER_BATCH_LINGER=300ms",
       "TRACKER_SUMMARIZER_BATCH_POLL_INTERVAL=100ms", "TRACKER_SUMMARIZER_BATCH_POLL_MAX=800ms"});
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'done'"), "60", 90s), "60");
  const int batched = std::stoi(
      ScratchSchema::exec(q("SELECT count(*) FROM summaries WHERE provider = 'openai-batch'")));
  const int direct =
      std::stoi(ScratchSchema::exec(q("SELECT count(*) FROM summaries WHERE provider = 'openai'")));
  EXPECT_EQ(batched + direct, 60);
  EXPECT_GT(batched, 30);
  EXPECT_GT(direct, 0) << "the lines the batch failed were called directly";
  const auto stats = openai.simulator().stats();
  EXPECT_GE(stats.batches_created, 1U);
  EXPECT_EQ(stats.batch_lines, 60U) << "each job was in one batch";
  EXPECT_EQ(stats.completions, static_cast<std::uint64_t>(direct));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_batches WHERE state <> 'applied'")),
            "0");
  // Polls back off (100 ms doubling to 800 ms): about 8 over the batch's 3 s, not 30.
  EXPECT_LE(std::stoi(ScratchSchema::exec(q("SELECT max(polls) FROM summary_batches"))), 12);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs WHERE batch_id IS NULL")),
            "0");
  EXPECT_EQ(outbox_by_delivery(60).size(), 60U);
  EXPECT_EQ(summarizer->terminate(), 0);
}

TEST_F(SummarizerTest, OfflineProviderNeedsNoAccount) {
  claim(3, 3);
  auto summarizer = start_summarizer(nullptr, {"TRACKER_SUMMARY_DESTINATION=dm"});
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'done'"), "3", 60s), "3");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summaries WHERE provider = 'offline' AND "
                                  "attempts = 0 AND channel = user_id AND text LIKE "
                                  "'*Study summary for %You logged 3 entries, 3 h in total.%'")),
            "3");
  const auto delivered = outbox_by_delivery(3);
  ASSERT_EQ(delivered.size(), 3U);
  for (const auto& [id, copies] : delivered) {
    EXPECT_TRUE(id.starts_with("summary:T1:U0000")) << id;
    EXPECT_TRUE(tracker::messages::is_user_id(copies.front().channel));
  }
  EXPECT_EQ(summarizer->terminate(), 0);
}

TEST_F(SummarizerTest, MalformedRequestsGoToTheDeadLetterTopic) {
  tracker::testing::produce(
      requests.name(), {{"T1:U1", "not json"}, {"T1:U1", R"({"schema":"summary-request/v0"})"}});
  auto summarizer = start_summarizer(nullptr);
  const auto letters = tracker::testing::read_dead_letters(dlq.name(), 2);
  ASSERT_EQ(letters.size(), 2U);
  EXPECT_EQ(letters[0].headers.at("x-error-reason"), "invalid_json");
  EXPECT_EQ(letters[1].headers.at("x-error-reason"), "unknown_schema");
  EXPECT_EQ(letters[0].headers.at("x-failed-by"), "summarizer");
  EXPECT_EQ(summarizer->terminate(), 0);
}

// The sum of a gauge family's samples in a /metrics body, and how many series it has.
static std::pair<double, int> summarizer_gauge_sum(const std::string& metrics,
                                                   const std::string& name) {
  double sum = 0;
  int series = 0;
  for (std::size_t at = metrics.find("\n" + name + "{"); at != std::string::npos;
       at = metrics.find("\n" + name + "{", at + 1)) {
    const auto value = metrics.find("} ", at);
    sum += std::stod(metrics.substr(value + 2));
    ++series;
  }
  return {sum, series};
}

// PostgreSQL stops while jobs are running: the summarizer pauses, says so (not ready, the
// db_unavailable gauge, the lag of the records it has not read), waits the outage out, and then
// finishes every job once, without calling the model twice for a job.
TEST_F(SummarizerTest, PostgresqlDownPausesThenEveryJobFinishesOnce) {
  OpenAiSimulatorThread openai({.latency_median_ms = 300, .latency_p99_ms = 600, .seed = 9});
  claim(200);
  // Few jobs at a time and a short queue, so that most records are still unread in Kafka.
  auto summarizer = start_summarizer(
      &openai, {"TRACKER_SUMMARIZER_MAX_IN_FLIGHT=4", "TRACKER_SUMMARIZER_MAX_QUEUED=8",
                "TRACKER_DB_RETRY_MAX_INTERVAL=500ms"});
  ASSERT_EQ(wait_for(q("SELECT count(*) >= 20 FROM summary_jobs WHERE state = 'done'"), "t", 60s),
            "t");
  {
    tracker::testing::DatabaseOutage outage;
    std::string metrics;
    bool not_ready = false;
    bool unavailable = false;
    bool paused = false;
    double most_lag = 0;
    int series = 0;
    const auto until = std::chrono::steady_clock::now() + 6s;
    while (std::chrono::steady_clock::now() < until) {
      not_ready = not_ready || tracker::testing::http_get(summarizer->port(), "/readyz") == 503U;
      tracker::testing::http_get(summarizer->port(), "/metrics", &metrics);
      unavailable =
          unavailable || metrics.find("\ntracker_summarizer_db_unavailable 1") != std::string::npos;
      paused =
          paused || metrics.find("\ntracker_summarizer_consumer_paused 1") != std::string::npos;
      const auto [lag, lag_series] =
          summarizer_gauge_sum(metrics, "tracker_summarizer_consumer_lag_messages");
      most_lag = std::max(most_lag, lag);
      series = std::max(series, lag_series);
      std::this_thread::sleep_for(250ms);
    }
    EXPECT_TRUE(not_ready) << "not ready while the database is down";
    EXPECT_TRUE(unavailable) << metrics;
    EXPECT_TRUE(paused) << metrics;
    EXPECT_EQ(series, 6) << "a lag series per partition of summary-requests";
    // About 13 jobs a second were done before the outage (4 at a time, 0.3 s each) and 12 more
    // are queued or in flight: most of the 200 records are still waiting in Kafka.
    EXPECT_GT(most_lag, 100) << metrics;
    ASSERT_TRUE(summarizer->alive()) << "the summarizer must wait the outage out, not exit";
    outage.restore();
  }
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'done'"), "200", 120s),
            "200");
  const auto stats = openai.simulator().stats();
  EXPECT_EQ(stats.completions, 200U) << "no job called the model twice";
  const auto delivered = outbox_by_delivery(200);
  EXPECT_EQ(delivered.size(), 200U);
  for (const auto& [id, copies] : delivered) EXPECT_EQ(copies.size(), 1U) << id;
  std::string metrics;
  const auto caught_up = std::chrono::steady_clock::now() + 10s;
  std::pair<double, int> lag{-1, 0};
  while (std::chrono::steady_clock::now() < caught_up && lag.first != 0) {
    std::this_thread::sleep_for(500ms);
    tracker::testing::http_get(summarizer->port(), "/metrics", &metrics);
    lag = summarizer_gauge_sum(metrics, "tracker_summarizer_consumer_lag_messages");
  }
  EXPECT_EQ(lag.first, 0) << metrics;
  EXPECT_NE(metrics.find("\ntracker_summarizer_db_unavailable 0"), std::string::npos);
  EXPECT_EQ(tracker::testing::wait_ready(summarizer->port(), 30s).first, 200U);
  EXPECT_EQ(summarizer->terminate(), 0);
}

// The model takes 20 s to answer and the summarizer is told to stop with a 1 s grace: the calls
// in flight are cut off when the grace ends, the jobs stay open and unacknowledged, and the next
// summarizer finishes them.
TEST_F(SummarizerTest, CallsInFlightAreCutOffWhenTheShutdownGraceEnds) {
  OpenAiSimulatorThread stalled({.latency_median_ms = 20'000, .latency_p99_ms = 21'000});
  claim(3);
  auto summarizer = start_summarizer(
      &stalled, {"TRACKER_SHUTDOWN_GRACE=1s", "TRACKER_OPENAI_REQUEST_TIMEOUT=60s"});
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (stalled.simulator().stats().completions < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(stalled.simulator().stats().completions, 3U);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(summarizer->terminate(), 0);
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_LT(took, 6s) << "exit followed the 1 s grace, not the 20 s answers";
  std::cout << "[ measured ] stopped in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms with 3 calls in flight and a 1 s grace\n";
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM summary_jobs WHERE state = 'published'")),
            "3")
      << "cut-off jobs are neither failed nor deferred";

  OpenAiSimulatorThread openai({.latency_median_ms = 5, .latency_p99_ms = 20});
  auto next = start_summarizer(&openai);
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM summary_jobs WHERE state = 'done'"), "3", 60s), "3");
  EXPECT_EQ(outbox_by_delivery(3).size(), 3U);
  EXPECT_EQ(next->terminate(), 0);
}

// Idle workers wait on one timer that only new work (or stopping) cancels. Each worker used to
// set that timer's expiry before waiting, which cancelled every other worker's wait, so 64 idle
// workers woke one another without end and kept a core busy.
TEST_F(SummarizerTest, IdleWorkersDoNotSpin) {
  auto summarizer = start_summarizer(nullptr);
  const auto cpu_seconds = [&] {
    std::string body;
    EXPECT_EQ(tracker::testing::http_get(summarizer->port(), "/metrics", &body), 200U);
    const std::string name = "\nprocess_cpu_seconds_total ";
    const auto at = body.find(name);
    EXPECT_NE(at, std::string::npos) << body.substr(0, 500);
    return at == std::string::npos ? 0.0 : std::stod(body.substr(at + name.size()));
  };
  const double before = cpu_seconds();
  std::this_thread::sleep_for(2s);
  const double used = cpu_seconds() - before;
  // Busy, it used all of the 2 s; idle, a few milliseconds.
  EXPECT_LT(used, 0.5) << "the idle summarizer used " << used << " s of CPU in 2 s";
  EXPECT_EQ(summarizer->terminate(), 0);
}
