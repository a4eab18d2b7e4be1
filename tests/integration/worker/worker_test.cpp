// The worker binary against the real broker and PostgreSQL: each test has its own topics,
// consumer group and database schema, feeds records the way ingest publishes them, and checks
// the rows.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/kafka/send_all.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "environment.hpp"
#include "fixtures.hpp"
#include "kafka_topic.hpp"
#include "pg_schema.hpp"
#include "run.hpp"
#include "service_process.hpp"
#include "topic_checks.hpp"
#include "worker_process.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;
using tracker::testing::fixture;
using tracker::testing::run;
using tracker::testing::ScratchSchema;
using tracker::testing::ScratchTopic;

using tracker::testing::http_get;
using tracker::testing::wait_ready;

// A record as ingest publishes it: the envelope of an event_callback body.
using Record = tracker::testing::TopicRecord;
using tracker::testing::produce;
using tracker::testing::record_of;

Record sample(const char* name) {
  return record_of(fixture(std::string("slack/") + name));
}

// A new message from one of `users` users; minutes of study in its text.
Record study_message(int i, int users = 50, int minutes = 30) {
  json payload = json::parse(fixture("slack/message.json"));
  payload["event_id"] = "EvLOAD" + std::to_string(i);
  payload["event"]["user"] = "U" + std::to_string(1000 + i % users);
  payload["event"]["ts"] = std::to_string(1731974400 + i) + ".000100";
  payload["event"]["text"] = "studied " + std::to_string(minutes) + "m #load";
  return record_of(payload.dump());
}

std::int64_t number(const std::string& sql) {
  return std::stoll(ScratchSchema::exec(sql));
}

using tracker::testing::WorkerProcess;

using tracker::testing::DeadLetter;
using tracker::testing::read_dead_letters;
using tracker::testing::wait_for;

struct WorkerTest : ::testing::Test {
  ScratchSchema schema;
  ScratchTopic topic{6};
  ScratchTopic dlq{1};
  std::string group = tracker::testing::unique_name("worker");

  std::string q(const std::string& sql) const {
    return "SET search_path TO " + schema.name() + "; " + sql;
  }
  std::unique_ptr<WorkerProcess> start_worker(std::vector<std::string> extra = {}) {
    return std::make_unique<WorkerProcess>(schema.name(), topic.name(), dlq.name(), group,
                                           std::move(extra));
  }
};

// ScratchSchema::exec returns the first column of the first row of the last statement.
TEST_F(WorkerTest, EachSampleEventMakesTheRightRowChange) {
  auto worker = start_worker();
  produce(topic.name(), {sample("message.json"), sample("message_thread_reply.json")});
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM study_logs"), "2"), "2");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT body || '|' || duration_minutes || '|' || "
                                  "array_to_string(topics, ',') || '|' || "
                                  "to_char(posted_at AT TIME ZONE 'UTC', "
                                  "'YYYY-MM-DD HH24:MI:SS.US') FROM study_logs "
                                  "WHERE ts = '1731974400.000200'")),
            "Studied Kafka consumer groups for 2h #kafka|120|kafka|2024-11-19 00:00:00.000200");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT thread_ts || '|' || duration_minutes FROM study_logs "
                                  "WHERE ts = '1731975000.000300'")),
            "1731974400.000200|40");
  // The first message created the user, with the default time zone and hour.
  EXPECT_EQ(ScratchSchema::exec(q("SELECT time_zone || '|' || summary_hour || '|' || opted_out "
                                  "FROM users WHERE user_id = 'U2147483697'")),
            "Asia/Seoul|21|false");

  produce(topic.name(), {sample("message_changed.json")});
  EXPECT_EQ(
      wait_for(q("SELECT duration_minutes FROM study_logs WHERE ts = '1731974400.000200'"), "180"),
      "180");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT body || '|' || to_char(edited_at AT TIME ZONE 'UTC', "
                                  "'HH24:MI:SS') FROM study_logs "
                                  "WHERE ts = '1731974400.000200'")),
            "Studied Kafka consumer groups for 3h #kafka|00:11:40");

  produce(topic.name(), {sample("message_deleted.json"), sample("bot_message.json")});
  EXPECT_EQ(wait_for(q("SELECT (deleted_at IS NOT NULL)::text FROM study_logs "
                       "WHERE ts = '1731974400.000200'"),
                     "true"),
            "true");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT '[' || body || ']' || coalesce(duration_minutes, -1) "
                                  "|| cardinality(topics) FROM study_logs "
                                  "WHERE ts = '1731974400.000200'")),
            "[]-10");
  // The bot's post is not a study log; the reply stays.
  EXPECT_EQ(wait_for(q("SELECT count(*) FROM study_logs"), "2", 5s), "2");
  EXPECT_EQ(number(q("SELECT count(*) FROM users")), 1);
  EXPECT_EQ(worker->terminate(), 0);
}

TEST_F(WorkerTest, AnEditBeforeItsMessageWinsAndADeletionBeforeItsMessageStays) {
  // Same key, so same partition, so the worker sees them in this order.
  json deleted_first = json::parse(fixture("slack/message.json"));
  deleted_first["event_id"] = "EvOTHER1";
  deleted_first["event"]["ts"] = "1731974999.000100";
  json deletion = json::parse(fixture("slack/message_deleted.json"));
  deletion["event"]["deleted_ts"] = "1731974999.000100";
  deletion["event"]["previous_message"]["ts"] = "1731974999.000100";
  deletion["event_id"] = "EvOTHER2";
  produce(topic.name(), {sample("message_changed.json"), sample("message.json"),
                         record_of(deletion.dump()), record_of(deleted_first.dump())});
  auto worker = start_worker();
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), "4"), "4");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT body FROM study_logs WHERE ts = '1731974400.000200'")),
            "Studied Kafka consumer groups for 3h #kafka");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT '[' || body || ']' || (deleted_at IS NOT NULL) "
                                  "FROM study_logs WHERE ts = '1731974999.000100'")),
            "[]true");
}

TEST_F(WorkerTest, TheSameThousandEventsDeliveredTwiceGiveAThousandRows) {
  std::vector<Record> records;
  for (int i = 0; i < 1000; ++i) records.push_back(study_message(i));
  for (int i = 0; i < 1000; ++i) records.push_back(study_message(i));
  produce(topic.name(), records);
  auto worker = start_worker({"TRACKER_BATCH_MAX_EVENTS=100"});
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), "1000"), "1000");
  std::string metrics;
  // Every record read (2,000) before the counts are final.
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    http_get(worker->ops_port(), "/metrics", &metrics);
    if (metrics.find("tracker_worker_events_duplicate_total 1000") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(metrics.find("tracker_worker_events_duplicate_total 1000"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tracker_worker_events_stored_total{change=\"message\"} 1000"),
            std::string::npos);
  EXPECT_EQ(number(q("SELECT count(*) FROM study_logs")), 1000);
  EXPECT_EQ(number(q("SELECT sum(duration_minutes) FROM study_logs")), 30'000);
  EXPECT_EQ(number(q("SELECT count(*) FROM users")), 50);
  const auto readiness = wait_ready(worker->ops_port());
  EXPECT_EQ(readiness.first, 200U) << readiness.second;
  EXPECT_EQ(worker->terminate(), 0);
}

TEST_F(WorkerTest, PrunedProcessedEventsLeaveReplaysHarmless) {
  std::vector<Record> records;
  for (int i = 0; i < 10; ++i) records.push_back(study_message(i));
  produce(topic.name(), records);
  auto worker =
      start_worker({"TRACKER_PROCESSED_EVENTS_RETENTION=1s", "TRACKER_PRUNE_INTERVAL=500ms"});
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM study_logs"), "10"), "10");
  // Older than a second, so the pruner deletes them; the rows stay.
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), "0", 30s), "0");
  const std::string before = ScratchSchema::exec(
      q("SELECT count(*) || '|' || sum(duration_minutes) || '|' || max(updated_at) "
        "FROM study_logs"));
  // A replay of the same events, now unknown to processed_events: each is applied again and
  // changes nothing, since no change is newer than its row.
  produce(topic.name(), records);
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), "10"), "10");
  EXPECT_EQ(ScratchSchema::exec(
                q("SELECT count(*) || '|' || sum(duration_minutes) || '|' || max(updated_at) "
                  "FROM study_logs")),
            before);
  std::string metrics;
  http_get(worker->ops_port(), "/metrics", &metrics);
  const std::string name = "\ntracker_worker_processed_events_pruned_total ";
  const auto at = metrics.find(name);
  ASSERT_NE(at, std::string::npos) << metrics;
  // The first ten at least; the replayed ten may be pruned by now as well.
  EXPECT_GE(std::stod(metrics.substr(at + name.size())), 10.0);
  EXPECT_EQ(worker->terminate(), 0);
}

TEST_F(WorkerTest, RecordsItCannotProcessGoToTheDeadLetterTopicAndConsumptionMovesOn) {
  json nul_text = json::parse(fixture("slack/message.json"));
  nul_text["event_id"] = "EvNUL";
  nul_text["event"]["ts"] = "1731974500.000100";
  nul_text["event"]["text"] = std::string("a NUL \0 inside", 14);
  json future = json::parse(sample("message.json").value);
  future["schema"] = "slack-event-envelope/v9";
  produce(topic.name(), {{"k", "{not json"},
                         {"k", future.dump()},
                         record_of(nul_text.dump()),
                         sample("message.json")});
  auto worker = start_worker();
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM study_logs"), "1"), "1");
  const auto letters = read_dead_letters(dlq.name(), 3);
  ASSERT_EQ(letters.size(), 3U);
  std::map<std::string, const DeadLetter*> by_reason;
  for (const auto& letter : letters) by_reason[letter.headers.at("x-error-reason")] = &letter;
  ASSERT_EQ(by_reason.size(), 3U);
  const DeadLetter& bad_json = *by_reason.at("bad_json");
  EXPECT_EQ(bad_json.value, "{not json");
  EXPECT_EQ(bad_json.headers.at("x-original-topic"), topic.name());
  EXPECT_EQ(bad_json.headers.at("x-failed-by"), "worker");
  EXPECT_FALSE(bad_json.headers.at("x-original-offset").empty());
  EXPECT_NE(by_reason.at("unknown_schema")->headers.at("x-error").find("slack-event-envelope/v9"),
            std::string::npos);
  // PostgreSQL refuses NUL characters in text; only that record is dead-lettered.
  EXPECT_NE(by_reason.at("database")->headers.at("x-error").find("22P05"), std::string::npos)
      << by_reason.at("database")->headers.at("x-error");
  EXPECT_EQ(worker->terminate(), 0);
}

// A misconfigured producer's flood: every other record is not an envelope. The worker
// dead-letters them a batch at a time; killed part-way through and started again, it loses no
// good record, stores none twice, and every bad one is in the dead-letter topic (those whose
// offsets the kill left uncommitted may be there twice: they were sent again).
TEST_F(WorkerTest, AFloodOfPoisonIsDeadLetteredInBatchesAndAKillLosesNothing) {
  constexpr int kRecords = 8'000;
  std::vector<Record> records;
  std::set<std::string> poison;
  for (int i = 0; i < kRecords; ++i) {
    if (i % 2 == 1) {
      std::string value = "not an envelope: record " + std::to_string(i);
      poison.insert(value);
      records.push_back({"poison-" + std::to_string(i), std::move(value)});
    } else {
      records.push_back(study_message(i));
    }
  }
  produce(topic.name(), records);
  auto worker = start_worker({"TRACKER_BATCH_MAX_EVENTS=100"});
  const auto dead_lettered = [&] {
    std::string metrics;
    http_get(worker->ops_port(), "/metrics", &metrics);
    const std::string name = "\ntracker_worker_dead_letters_total{reason=\"bad_json\"} ";
    const auto at = metrics.find(name);
    return at == std::string::npos ? 0.0 : std::stod(metrics.substr(at + name.size()));
  };
  const auto until = std::chrono::steady_clock::now() + 60s;
  double at_kill = 0;
  while (std::chrono::steady_clock::now() < until && (at_kill = dead_lettered()) < 400) {
    std::this_thread::sleep_for(10ms);
  }
  worker->kill_hard();
  ASSERT_GE(at_kill, 400);
  ASSERT_LT(at_kill, kRecords / 2) << "the worker finished before it could be killed";
  worker->start();
  ASSERT_EQ(
      wait_for(q("SELECT count(*) FROM processed_events"), std::to_string(kRecords / 2), 120s),
      std::to_string(kRecords / 2));
  EXPECT_EQ(number(q("SELECT count(*) FROM study_logs")), kRecords / 2);
  const auto letters = read_dead_letters(dlq.name(), kRecords / 2, 2s);
  std::map<std::string, int> copies;
  for (const auto& letter : letters) {
    ++copies[letter.value];
    EXPECT_EQ(letter.headers.at("x-error-reason"), "bad_json");
    EXPECT_EQ(letter.headers.at("x-original-topic"), topic.name());
  }
  std::size_t twice = 0;
  for (const auto& [value, n] : copies) {
    EXPECT_TRUE(poison.contains(value)) << "dead-lettered but not poison: " << value;
    twice += static_cast<std::size_t>(n - 1);
  }
  EXPECT_EQ(copies.size(), poison.size()) << "a poison record is missing from the topic";
  std::cout << "killed after " << at_kill << " of " << kRecords / 2 << " dead letters; " << twice
            << " sent again after the restart\n";
  EXPECT_EQ(worker->terminate(), 0);
}

TEST_F(WorkerTest, SigkillMidStreamThenRestartLosesAndDuplicatesNothing) {
  constexpr int kEvents = 20'000;
  std::vector<Record> records;
  for (int i = 0; i < kEvents; ++i) records.push_back(study_message(i, 200, 1 + i % 7));
  produce(topic.name(), records);
  auto worker = start_worker({"TRACKER_BATCH_MAX_EVENTS=50"});
  // Kill it once it is part-way through.
  const auto until = std::chrono::steady_clock::now() + 60s;
  std::int64_t stored = 0;
  while (std::chrono::steady_clock::now() < until) {
    try {
      stored = number(q("SELECT count(*) FROM processed_events"));
    } catch (const std::exception&) {
      stored = 0;
    }
    if (stored >= 2'000) break;
    std::this_thread::sleep_for(20ms);
  }
  worker->kill_hard();
  ASSERT_GE(stored, 2'000);
  const std::int64_t at_kill = number(q("SELECT count(*) FROM processed_events"));
  ASSERT_LT(at_kill, kEvents) << "the worker finished before it could be killed";
  worker->start();
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), std::to_string(kEvents), 120s),
            std::to_string(kEvents));
  EXPECT_EQ(number(q("SELECT count(*) FROM study_logs")), kEvents);
  std::int64_t expected_minutes = 0;
  for (int i = 0; i < kEvents; ++i) expected_minutes += 1 + i % 7;
  EXPECT_EQ(number(q("SELECT sum(duration_minutes) FROM study_logs")), expected_minutes);
  // Redelivered after the kill: records stored whose offsets were not committed yet. The new
  // process counts them as duplicates and changes nothing for them.
  std::string metrics;
  http_get(worker->ops_port(), "/metrics", &metrics);
  const std::string name = "\ntracker_worker_events_duplicate_total ";  // the sample line
  const auto at = metrics.find(name);
  ASSERT_NE(at, std::string::npos) << metrics;
  const double redelivered = std::stod(metrics.substr(at + name.size()));
  std::cout << "killed after " << at_kill << " of " << kEvents << " events were stored; "
            << redelivered << " redelivered after the restart were skipped as duplicates\n";
  EXPECT_EQ(worker->terminate(), 0);
}

using tracker::testing::DatabaseOutage;

TEST_F(WorkerTest, PostgresqlDownForTenSecondsPausesThenCatchesUpWithNothingLost) {
  std::vector<Record> first;
  std::vector<Record> second;
  for (int i = 0; i < 1000; ++i) first.push_back(study_message(i));
  for (int i = 1000; i < 3000; ++i) second.push_back(study_message(i));
  produce(topic.name(), first);
  auto worker = start_worker();
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), "1000"), "1000");
  const auto before = wait_ready(worker->ops_port());
  ASSERT_EQ(before.first, 200U) << before.second;
  {
    DatabaseOutage outage;
    produce(topic.name(), second);
    std::string metrics;
    unsigned ready = 0;
    bool paused = false;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      ready = http_get(worker->ops_port(), "/readyz");
      http_get(worker->ops_port(), "/metrics", &metrics);
      paused = paused || metrics.find("tracker_worker_consumer_paused 1") != std::string::npos;
      std::this_thread::sleep_for(250ms);
    }
    EXPECT_EQ(ready, 503U) << "not ready while the database is down";
    EXPECT_TRUE(paused) << metrics;
    EXPECT_NE(metrics.find("tracker_worker_db_unavailable 1"), std::string::npos);
    ASSERT_TRUE(worker->alive()) << "the worker must wait the outage out, not exit";
    outage.restore();
  }
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM processed_events"), "3000", 90s), "3000");
  EXPECT_EQ(number(q("SELECT count(*) FROM study_logs")), 3000);
  EXPECT_TRUE(worker->alive());
  const auto after = wait_ready(worker->ops_port());
  EXPECT_EQ(after.first, 200U) << after.second;
  EXPECT_EQ(worker->terminate(), 0);
}

}  // namespace
