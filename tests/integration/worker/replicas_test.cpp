// Workers as replicas: three workers in one consumer group take a stream of events (new
// messages, then edits and deletions of some of them) while a fourth joins, one is stopped with
// SIGTERM and one is killed with SIGKILL, each a rebalance mid-stream. Every event must end as
// exactly one change in PostgreSQL: one processed_events row per event, one study_logs row per
// message, and every row as its last change left it.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "environment.hpp"
#include "fixtures.hpp"
#include "kafka_topic.hpp"
#include "pg_schema.hpp"
#include "service_process.hpp"
#include "topic_checks.hpp"
#include "worker_process.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using tracker::testing::ScratchSchema;
using tracker::testing::ScratchTopic;
using tracker::testing::TopicRecord;
using tracker::testing::WorkerProcess;

constexpr int kStreamMessages = 6'000;
constexpr int kStreamUsers = 120;
constexpr int kChunks = 40;  // produced 250 ms apart: a ten-second stream
constexpr int kPerChunk = kStreamMessages / kChunks;
constexpr long long kFirstTs = 1'731'974'400;

bool edited(int i) {
  return i % 5 == 0;
}
bool deleted(int i) {
  return i % 13 == 0;
}
int minutes_of(int i) {
  return 1 + i % 7;
}
int edited_minutes_of(int i) {
  return 10 + i % 11;
}
std::string ts_of(int i) {
  return std::to_string(kFirstTs + i) + ".000100";
}

// Message i, and its edit and deletion, by one of kStreamUsers people (so each person's events
// share a partition and keep their order).
json stream_event(int i, const char* kind) {
  json payload = json::parse(tracker::testing::fixture(std::string("slack/") + kind + ".json"));
  const std::string user = "U" + std::to_string(5000 + i % kStreamUsers);
  const std::string original = "studied " + std::to_string(minutes_of(i)) + "m #replicas";
  if (std::string(kind) == "message") {
    payload["event_id"] = "EvRM" + std::to_string(i);
    payload["event"]["user"] = user;
    payload["event"]["ts"] = ts_of(i);
    payload["event"]["event_ts"] = ts_of(i);
    payload["event"]["text"] = original;
  } else if (std::string(kind) == "message_changed") {
    const std::string at = std::to_string(kFirstTs + 100'000 + i) + ".000400";
    payload["event_id"] = "EvRE" + std::to_string(i);
    payload["event"]["ts"] = at;
    payload["event"]["event_ts"] = at;
    payload["event"]["message"]["user"] = user;
    payload["event"]["message"]["ts"] = ts_of(i);
    payload["event"]["message"]["text"] =
        "edited: studied " + std::to_string(edited_minutes_of(i)) + "m #replicas";
    payload["event"]["message"]["edited"] = {
        {"user", user}, {"ts", std::to_string(kFirstTs + 100'000 + i) + ".000000"}};
    payload["event"]["previous_message"]["user"] = user;
    payload["event"]["previous_message"]["ts"] = ts_of(i);
    payload["event"]["previous_message"]["text"] = original;
  } else {
    const std::string at = std::to_string(kFirstTs + 200'000 + i) + ".000500";
    payload["event_id"] = "EvRD" + std::to_string(i);
    payload["event"]["ts"] = at;
    payload["event"]["event_ts"] = at;
    payload["event"]["deleted_ts"] = ts_of(i);
    payload["event"]["previous_message"]["user"] = user;
    payload["event"]["previous_message"]["ts"] = ts_of(i);
  }
  return payload;
}

// Chunk c: its messages, then the edits and deletions of the chunk before (so that each comes
// after its message on the person's partition). Chunk kChunks holds only the last of those.
std::vector<TopicRecord> stream_chunk(int c) {
  std::vector<TopicRecord> out;
  if (c < kChunks) {
    for (int i = c * kPerChunk; i < (c + 1) * kPerChunk; ++i) {
      out.push_back(tracker::testing::record_of(stream_event(i, "message").dump()));
    }
  }
  if (c > 0) {
    for (int i = (c - 1) * kPerChunk; i < c * kPerChunk; ++i) {
      if (edited(i)) {
        out.push_back(tracker::testing::record_of(stream_event(i, "message_changed").dump()));
      }
      if (deleted(i)) {
        out.push_back(tracker::testing::record_of(stream_event(i, "message_deleted").dump()));
      }
    }
  }
  return out;
}

// The sum of a worker's samples of counter `name` (over its labels, if any).
double counted(const WorkerProcess& worker, const std::string& name) {
  std::string metrics;
  tracker::testing::http_get(worker.ops_port(), "/metrics", &metrics);
  double total = 0;
  const std::string line = "\n" + name;
  for (auto at = metrics.find(line); at != std::string::npos; at = metrics.find(line, at + 1)) {
    const char next = metrics[at + line.size()];
    if (next != '{' && next != ' ') continue;  // another name that starts the same
    const auto end = metrics.find('\n', at + 1);
    const auto space = metrics.rfind(' ', end);
    total += std::stod(metrics.substr(space + 1, end - space - 1));
  }
  return total;
}

struct WorkerReplicasTest : ::testing::Test {
  ScratchSchema schema;
  ScratchTopic topic{6};
  ScratchTopic dlq{1};
  std::string group = tracker::testing::unique_name("worker-replicas");

  std::string q(const std::string& sql) const {
    return "SET search_path TO " + schema.name() + "; " + sql;
  }
  std::unique_ptr<WorkerProcess> start_worker() {
    return std::make_unique<WorkerProcess>(schema.name(), topic.name(), dlq.name(), group,
                                           std::vector<std::string>{"TRACKER_BATCH_MAX_EVENTS=50"});
  }
};

TEST_F(WorkerReplicasTest, RebalancesMidStreamLoseAndRepeatNothing) {
  std::vector<std::unique_ptr<WorkerProcess>> workers;
  for (int i = 0; i < 3; ++i) workers.push_back(start_worker());
  for (const auto& worker : workers) {
    const auto ready = tracker::testing::wait_ready(worker->ops_port(), 30s);
    ASSERT_EQ(ready.first, 200U) << ready.second;
  }

  std::atomic<int> chunks_sent{0};
  std::atomic<std::size_t> events_sent{0};
  std::thread stream([&] {
    for (int c = 0; c <= kChunks; ++c) {
      const auto chunk = stream_chunk(c);
      tracker::testing::produce(topic.name(), chunk);
      events_sent += chunk.size();
      ++chunks_sent;
      std::this_thread::sleep_for(250ms);
    }
  });
  const auto wait_chunks = [&](int n) {
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (chunks_sent.load() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(20ms);
    }
    return chunks_sent.load() >= n;
  };
  const auto started = std::chrono::steady_clock::now();
  const bool scaled = wait_chunks(kChunks / 5);
  workers.push_back(start_worker());  // a fourth joins: every member gives its partitions back
  const bool stopped = wait_chunks(2 * kChunks / 5);
  const int stop_status = workers[0]->terminate();  // leaves the group after its last batch
  const bool killed = wait_chunks(3 * kChunks / 5);
  workers[1]->kill_hard();  // gone without a word: its partitions wait out the session timeout
  stream.join();
  EXPECT_TRUE(scaled && stopped && killed) << "the stream stalled";
  EXPECT_EQ(stop_status, 0) << "the stopped worker did not exit cleanly";

  int edits = 0;
  int deletions = 0;
  long long minutes = 0;
  int edited_kept = 0;
  for (int i = 0; i < kStreamMessages; ++i) {
    edits += edited(i) ? 1 : 0;
    deletions += deleted(i) ? 1 : 0;
    if (deleted(i)) continue;
    minutes += edited(i) ? edited_minutes_of(i) : minutes_of(i);
    edited_kept += edited(i) ? 1 : 0;
  }
  const std::size_t events = static_cast<std::size_t>(kStreamMessages + edits + deletions);
  ASSERT_EQ(events_sent.load(), events);

  // None lost: one processed_events row per event (its primary key is the event_id).
  EXPECT_EQ(tracker::testing::wait_for(q("SELECT count(*) FROM processed_events"),
                                       std::to_string(events), 90s),
            std::to_string(events));
  const auto took = std::chrono::steady_clock::now() - started;
  // One row per message, each as its last change left it: an event applied twice, or an older
  // change applied after a newer one (a message redelivered after its edit), would show here.
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) || '|' || count(DISTINCT ts) FROM study_logs")),
            std::to_string(kStreamMessages) + "|" + std::to_string(kStreamMessages));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM study_logs WHERE deleted_at IS NOT NULL "
                                  "AND body = ''")),
            std::to_string(deletions));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM study_logs WHERE deleted_at IS NULL AND "
                                  "edited_at IS NOT NULL AND body LIKE 'edited: %'")),
            std::to_string(edited_kept));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM study_logs WHERE deleted_at IS NULL AND "
                                  "edited_at IS NULL AND body LIKE 'studied %'")),
            std::to_string(kStreamMessages - deletions - edited_kept));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT sum(duration_minutes) FROM study_logs")),
            std::to_string(minutes));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM users")), std::to_string(kStreamUsers));
  EXPECT_TRUE(tracker::testing::read_records(dlq.name(), 0, 1s).empty()) << "dead letters";

  const std::string stored = "tracker_worker_events_stored_total";
  const std::string duplicates = "tracker_worker_events_duplicate_total";
  const double fourth = counted(*workers[3], stored);
  EXPECT_GT(fourth, 0) << "the worker that joined mid-stream stored nothing";
  std::cout << "[ measured ] " << events << " events in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms from the first chunk; the survivors stored " << counted(*workers[2], stored)
            << " and " << fourth << " (the joiner) and skipped "
            << counted(*workers[2], duplicates) + counted(*workers[3], duplicates)
            << " redelivered events as duplicates\n";
  for (std::size_t i = 2; i < workers.size(); ++i) EXPECT_EQ(workers[i]->terminate(), 0);
}

}  // namespace
