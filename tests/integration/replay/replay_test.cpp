// tracker-replay against the real broker, ingest, worker and PostgreSQL: a recorded day replayed
// through ingest into an empty database gives the same study logs; a time range goes to another
// topic as it is; a dry run sends nothing.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

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

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using tracker::testing::fixture;
using tracker::testing::record_of;
using tracker::testing::ScratchSchema;
using tracker::testing::ScratchTopic;
using tracker::testing::ServiceProcess;
using tracker::testing::TopicRecord;
using tracker::testing::wait_for;
using tracker::testkit::free_loopback_port;

constexpr const char* kSecret = "8f742231b10e8888abcd99yyyzzz85a5";

// A day of one channel: people posting in Korean and English, a thread reply, an edit and a
// deletion (the sample payloads), in the order Slack sent them.
std::vector<TopicRecord> recorded_day() {
  std::vector<TopicRecord> day;
  const char* texts[] = {"카프카 컨슈머 그룹 1시간 30분 #카프카", "Rust ownership, 2h #rust",
                         "SQL 윈도우 함수 45분 #sql", "DDIA chapter 5, 45 mins #ddia",
                         "알고리즘 3문제 2시간 #알고리즘"};
  for (int i = 0; i < 30; ++i) {
    json payload = json::parse(fixture("slack/message.json"));
    payload["event_id"] = "EvDAY" + std::to_string(i);
    payload["event"]["user"] = "U" + std::to_string(2000 + i % 6);
    payload["event"]["ts"] = std::to_string(1764550800 + i * 600) + ".000100";
    payload["event"]["text"] = texts[i % 5];
    payload["event"].erase("client_msg_id");
    day.push_back(record_of(payload.dump()));
  }
  for (const char* sample : {"message.json", "message_thread_reply.json", "message_changed.json",
                             "message_deleted.json"}) {
    day.push_back(record_of(fixture(std::string("slack/") + sample)));
  }
  return day;
}

// Every column a replay must reproduce, one line per row, in a stable order. A deleted row's
// edited_at is left out: it depends on the worker's batches, not on the events. An edit and the
// deletion of the same message folded into one batch leave only the deletion (edited_at empty);
// in two batches the edit is written first and its edited_at stays under the tombstone. Which
// one happens is a matter of timing, in the recording and in the replay alike.
std::string study_logs_of(const std::string& schema) {
  return ScratchSchema::exec(
      "SET search_path TO " + schema +
      "; SELECT string_agg(concat_ws('|', team_id, user_id, channel_id, ts, thread_ts, body, "
      "posted_at, CASE WHEN deleted_at IS NULL THEN edited_at END, deleted_at, "
      "duration_minutes, array_to_string(topics, ','), event_id), E'\\n' "
      "ORDER BY team_id, channel_id, ts) FROM study_logs");
}

class Worker : public ServiceProcess {
 public:
  Worker(const std::string& schema, const std::string& topic, const std::string& dlq)
      : ServiceProcess(
            TRACKER_WORKER_BINARY,
            {"DATABASE_URL=" + tracker::testing::test_database_url(), "TRACKER_DB_SCHEMA=" + schema,
             "TRACKER_WORKER_TOPIC=" + topic, "TRACKER_WORKER_DLQ_TOPIC=" + dlq,
             "TRACKER_WORKER_GROUP=" + tracker::testing::unique_name("replay-worker"),
             "TRACKER_OPS_ADDRESS=127.0.0.1",
             "TRACKER_OPS_PORT=" + std::to_string(free_loopback_port()),
             "TRACKER_LOG_LEVEL=warn"}) {
    start();
  }
};

class Ingest : public ServiceProcess {
 public:
  Ingest(std::uint16_t port, std::uint16_t ops_port, const std::string& topic)
      : ServiceProcess(
            TRACKER_INGEST_BINARY,
            {std::string("SLACK_SIGNING_SECRET=") + kSecret, "TRACKER_INGEST_ADDRESS=127.0.0.1",
             "TRACKER_INGEST_PORT=" + std::to_string(port),
             "TRACKER_OPS_PORT=" + std::to_string(ops_port), "TRACKER_INGEST_TOPIC=" + topic,
             "TRACKER_LOG_LEVEL=warn"}) {
    start();
  }
};

struct Replayed {
  int status = -1;
  std::string output;  // stdout and stderr
};

Replayed replay(const std::string& arguments) {
  const std::string command = std::string("SLACK_SIGNING_SECRET=") + kSecret + " " +
                              TRACKER_REPLAY_BINARY + " " + arguments + " 2>&1";
  Replayed out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.output.append(buffer, n);
  const int status = pclose(pipe);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::size_t lines_containing(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace

TEST(ReplayTest, ARecordedDayReplayedThroughIngestIntoAnEmptyDatabaseGivesTheSameStudyLogs) {
  ScratchTopic recorded{6};
  ScratchTopic replayed_topic{6};
  ScratchTopic dlq{1};
  ScratchSchema original;
  ScratchSchema fresh;

  const auto day = recorded_day();
  tracker::testing::produce(recorded.name(), day);
  {
    Worker worker(original.name(), recorded.name(), dlq.name());
    // 30 + 2 new rows; the edit and the deletion change the sample's row.
    ASSERT_EQ(wait_for("SET search_path TO " + original.name() +
                           "; SELECT count(*) FROM study_logs WHERE deleted_at IS NOT NULL",
                       "1", 60s),
              "1");
    ASSERT_EQ(worker.terminate(), 0);
  }
  const std::string expected = study_logs_of(original.name());
  ASSERT_EQ(std::count(expected.begin(), expected.end(), '\n'), 31) << expected;

  const auto port = free_loopback_port();
  const auto ops_port = free_loopback_port();
  Ingest ingest(port, ops_port, replayed_topic.name());
  ASSERT_EQ(tracker::testing::wait_ready(ops_port, 30s).first, 200U);
  Worker worker(fresh.name(), replayed_topic.name(), dlq.name());

  const auto result =
      replay("--topic " + recorded.name() + " --to-ingest 127.0.0.1:" + std::to_string(port) +
             " --rate 100 --quiet");
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("replayed 34 of 34 records"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("34 accepted, 0 failed"), std::string::npos) << result.output;

  EXPECT_EQ(wait_for("SET search_path TO " + fresh.name() +
                         "; SELECT count(*) FROM study_logs WHERE deleted_at IS NOT NULL",
                     "1", 60s),
            "1");
  EXPECT_EQ(wait_for("SET search_path TO " + fresh.name() + "; SELECT count(*) FROM study_logs",
                     "32", 30s),
            "32");
  EXPECT_EQ(study_logs_of(fresh.name()), expected);
  EXPECT_EQ(worker.terminate(), 0);
  EXPECT_EQ(ingest.terminate(), 0);
}

TEST(ReplayTest, ATimeRangeGoesToAnotherTopicAsItIsAndADryRunSendsNothing) {
  ScratchTopic source{3};
  ScratchTopic target{3};
  const auto day = recorded_day();
  const std::vector<TopicRecord> morning(day.begin(), day.begin() + 10);
  const std::vector<TopicRecord> evening(day.begin() + 10, day.begin() + 20);
  tracker::testing::produce(source.name(), morning);
  std::this_thread::sleep_for(1'100ms);
  const auto boundary = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::this_thread::sleep_for(100ms);
  tracker::testing::produce(source.name(), evening);

  const auto dry = replay("--topic " + source.name() + " --from-time " + std::to_string(boundary) +
                          " --dry-run --speed max --quiet");
  EXPECT_EQ(dry.status, 0) << dry.output;
  EXPECT_EQ(lines_containing(dry.output, " message \""), 10U) << dry.output;
  EXPECT_NE(dry.output.find("replayed 10 of 10 records"), std::string::npos) << dry.output;
  EXPECT_TRUE(tracker::testing::read_records(target.name(), 0, 1s).empty());

  const auto copied = replay("--topic " + source.name() + " --to-time " + std::to_string(boundary) +
                             " --to-topic " + target.name() + " --speed 10 --quiet");
  EXPECT_EQ(copied.status, 0) << copied.output;
  EXPECT_NE(copied.output.find("replayed 10 of 10 records"), std::string::npos) << copied.output;
  auto records = tracker::testing::read_records(target.name(), 10);
  ASSERT_EQ(records.size(), 10U);
  auto key_value = [](const TopicRecord& r) { return r.key + "\n" + r.value; };
  std::vector<std::string> got;
  std::vector<std::string> want;
  for (const auto& r : records) got.push_back(key_value(r));
  for (const auto& r : morning) want.push_back(key_value(r));
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);

  // Usage errors are named, and nothing leaves the machine.
  const auto remote = replay("--topic " + source.name() + " --to-ingest 10.0.0.1:3000");
  EXPECT_EQ(remote.status, 2);
  EXPECT_NE(remote.output.find("not a 127.0.0.0/8 address"), std::string::npos) << remote.output;
  const auto missing = replay("--topic no-such-topic-here --dry-run");
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.output.find("no-such-topic-here"), std::string::npos) << missing.output;
}
