// The notifier binary against the real broker and PostgreSQL, posting to the Slack simulator:
// each test has its own topics, consumer group, database schema and simulator.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <tracker/kafka/producer.hpp>
#include <tracker/kafka/send_all.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/slack/text_split.hpp>

#include "environment.hpp"
#include "kafka_topic.hpp"
#include "notifier_process.hpp"
#include "pg_schema.hpp"
#include "run.hpp"
#include "service_process.hpp"
#include "slack_simulator.hpp"
#include "topic_checks.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;
using tracker::loadtest::SimulatorOptions;
using tracker::loadtest::SimulatorThread;
using tracker::messages::OutboxMessage;
using tracker::testing::ScratchSchema;
using tracker::testing::ScratchTopic;
using tracker::testing::wait_for;

using Record = tracker::testing::TopicRecord;
using tracker::testing::produce;

Record outbox(const std::string& delivery_id, const std::string& channel, std::string text) {
  OutboxMessage message{.delivery_id = delivery_id,
                        .team_id = "T0TEST",
                        .channel = channel,
                        .text = std::move(text),
                        .created_at = std::chrono::system_clock::now()};
  return {tracker::messages::outbox_key(message), tracker::messages::encode_outbox(message)};
}

using tracker::testing::delivery_of;
using tracker::testing::NotifierProcess;

// The simulator's limits match the notifier's test settings, so that 429s come from injection.
SimulatorOptions fast_slack() {
  return {.channel_per_second = 400,
          .channel_burst = 40,
          .workspace_per_minute = 1'200'000,
          .workspace_burst = 400};
}

// The sum of a notifier's samples of `name` on /metrics: `name` alone sums every label set,
// `name{label="value"}` only that one.
double metric(const NotifierProcess& notifier, const std::string& name) {
  std::string metrics;
  tracker::testing::http_get(notifier.ops_port(), "/metrics", &metrics);
  double sum = 0;
  for (auto at = metrics.find("\n" + name); at != std::string::npos;
       at = metrics.find("\n" + name, at + 1)) {
    const char next = metrics[at + 1 + name.size()];
    if (next != ' ' && next != '{') continue;  // another metric whose name starts alike
    const auto value = metrics.find(' ', at + 1 + name.size());
    const auto end = metrics.find('\n', value);
    sum += std::stod(metrics.substr(value + 1, end - value - 1));
  }
  return sum;
}

// How many messages Slack received more than once, and how many distinct deliveries it got.
struct Copies {
  std::size_t deliveries = 0;
  int posted_twice = 0;
};
Copies copies_at(SimulatorThread& slack) {
  std::map<std::string, int> copies;
  for (const auto& message : slack.simulator().messages()) ++copies[delivery_of(message)];
  Copies out{.deliveries = copies.size()};
  for (const auto& [id, n] : copies) out.posted_twice += n - 1;
  return out;
}

struct NotifierTest : ::testing::Test {
  ScratchSchema schema;
  ScratchTopic topic{6};
  ScratchTopic dlq{1};
  std::string group = tracker::testing::unique_name("notifier");

  std::string q(const std::string& sql) const {
    return "SET search_path TO " + schema.name() + "; " + sql;
  }
  std::unique_ptr<NotifierProcess> start_notifier(SimulatorThread& slack,
                                                  std::vector<std::string> extra = {}) {
    return std::make_unique<NotifierProcess>(schema.name(), topic.name(), dlq.name(), group,
                                             slack.base_url(), std::move(extra));
  }

  // Two notifiers in two consumer groups on the one topic (named first and second): both take up
  // every record. Started, ready, and given one record `<tag>-first`; wait_consumed(1) then
  // tells when both groups have settled, so that both fetch what comes next at once.
  struct TwoGroups {
    std::unique_ptr<NotifierProcess> first;
    std::unique_ptr<NotifierProcess> second;
    [[nodiscard]] double sum(const std::string& name) const {
      return metric(*first, name) + metric(*second, name);
    }
    // Waits (up to 30 s) until both have consumed `records` each; returns how many they did.
    double wait_consumed(int records) const {
      const auto until = std::chrono::steady_clock::now() + 30s;
      while (sum("tracker_notifier_consumed_total") < 2 * records &&
             std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(100ms);
      }
      return sum("tracker_notifier_consumed_total");
    }
  };
  // (void, so that its checks are ASSERTs: call it in ASSERT_NO_FATAL_FAILURE.)
  void start_two_groups(TwoGroups& two, SimulatorThread& slack, const std::string& tag,
                        const std::vector<std::string>& extra = {}) {
    std::vector<std::string> first_env = extra;
    first_env.push_back("TRACKER_NOTIFIER_INSTANCE=first");
    std::vector<std::string> second_env = extra;
    second_env.push_back("TRACKER_NOTIFIER_INSTANCE=second");
    two.first = start_notifier(slack, std::move(first_env));
    group = tracker::testing::unique_name("notifier-other");
    two.second = start_notifier(slack, std::move(second_env));
    ASSERT_EQ(tracker::testing::wait_ready(two.first->ops_port()).first, 200U);
    ASSERT_EQ(tracker::testing::wait_ready(two.second->ops_port()).first, 200U);
    produce(topic.name(), {outbox(tag + "-first", "C0300", "first")});
  }
};

TEST_F(NotifierTest, PostsEveryMessageOnceInChannelOrderDespite429s) {
  SimulatorOptions options = fast_slack();
  options.inject_429_rate = 0.10;
  options.inject_retry_after_s = 0;  // honoured, but the test need not wait whole seconds
  options.seed = 11;
  SimulatorThread slack(options);
  auto notifier = start_notifier(slack, {"TRACKER_SLACK_MAX_ATTEMPTS=12"});
  ASSERT_EQ(tracker::testing::wait_ready(notifier->ops_port()).first, 200U);

  constexpr int kChannels = 20;
  constexpr int kPerChannel = 100;
  std::vector<Record> records;
  for (int i = 0; i < kChannels * kPerChannel; ++i) {
    const std::string channel = "C" + std::to_string(100 + i % kChannels);
    records.push_back(outbox("d" + std::to_string(i), channel, "message " + std::to_string(i)));
  }
  produce(topic.name(), records);
  ASSERT_EQ(
      wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"), "2000", 120s),
      "2000");

  const auto posted = slack.simulator().messages();
  std::map<std::string, int> copies;
  std::map<std::string, std::vector<int>> order;
  for (const auto& message : posted) {
    ++copies[delivery_of(message)];
    order[message.channel].push_back(std::stoi(message.text.substr(8)));
  }
  EXPECT_EQ(posted.size(), 2000U);
  EXPECT_EQ(copies.size(), 2000U);
  for (const auto& [id, n] : copies) EXPECT_EQ(n, 1) << id;
  ASSERT_EQ(order.size(), static_cast<std::size_t>(kChannels));
  for (const auto& [channel, numbers] : order) {
    EXPECT_EQ(numbers.size(), static_cast<std::size_t>(kPerChannel)) << channel;
    EXPECT_TRUE(std::is_sorted(numbers.begin(), numbers.end())) << channel << " out of order";
  }
  const auto stats = slack.simulator().stats();
  EXPECT_GT(stats.injected_429, 100U);
  // Every request is an attempt in the ledger: posts plus the 429s, nothing else.
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM slack_delivery_attempts")),
            std::to_string(stats.requests));
  EXPECT_EQ(stats.requests, 2000U + stats.injected_429);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM slack_delivery_attempts "
                                  "WHERE outcome = 'rate_limited'")),
            std::to_string(stats.injected_429));

  std::string metrics;
  ASSERT_EQ(tracker::testing::http_get(notifier->ops_port(), "/metrics", &metrics), 200U);
  EXPECT_NE(metrics.find("tracker_notifier_posted_total 2000"), std::string::npos);
  EXPECT_NE(
      metrics.find("tracker_notifier_rate_limited_total " + std::to_string(stats.injected_429)),
      std::string::npos);
  EXPECT_EQ(notifier->terminate(), 0);
}

// A storm of 429s uses up no attempts: with one attempt allowed and half the requests answered
// 429, every message is still posted, once, and none is dead-lettered.
TEST_F(NotifierTest, A429StormUsesUpNoAttemptsAndEveryMessageIsPostedOnce) {
  SimulatorOptions options = fast_slack();
  options.inject_429_rate = 0.5;
  options.inject_retry_after_s = 0;
  options.seed = 7;
  SimulatorThread slack(options);
  auto notifier = start_notifier(
      slack, {"TRACKER_SLACK_MAX_ATTEMPTS=1", "TRACKER_SLACK_RETRY_AFTER_JITTER=10ms"});
  ASSERT_EQ(tracker::testing::wait_ready(notifier->ops_port()).first, 200U);
  constexpr int kMessages = 200;
  std::vector<Record> records;
  for (int i = 0; i < kMessages; ++i) {
    records.push_back(outbox("storm-" + std::to_string(i), "C" + std::to_string(500 + i % 10),
                             "message " + std::to_string(i)));
  }
  produce(topic.name(), records);
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"),
                     std::to_string(kMessages), 120s),
            std::to_string(kMessages));
  const Copies copies = copies_at(slack);
  EXPECT_EQ(copies.deliveries, static_cast<std::size_t>(kMessages));
  EXPECT_EQ(copies.posted_twice, 0);
  EXPECT_GT(slack.simulator().stats().injected_429, 50U);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM slack_deliveries WHERE state = 'failed'")),
            "0");
  EXPECT_EQ(metric(*notifier, "tracker_notifier_dead_letters_total"), 0.0);
  EXPECT_EQ(notifier->terminate(), 0);
}

TEST_F(NotifierTest, APermanentErrorIsDeadLetteredWithoutARetry) {
  SimulatorOptions options = fast_slack();
  options.channel_errors["C0GONE"] = "channel_not_found";
  options.channel_errors["C0ARCH"] = "is_archived";
  SimulatorThread slack(options);
  auto notifier = start_notifier(slack);
  produce(topic.name(), {outbox("gone-1", "C0GONE", "a"),
                         outbox("arch-1", "C0ARCH", "b"),
                         outbox("gone-2", "C0GONE", "c"),
                         outbox("ok-1", "C0FINE", "d"),
                         {"C0BAD", "this is not JSON"}});
  const auto letters = tracker::testing::read_dead_letters(dlq.name(), 4);
  ASSERT_EQ(letters.size(), 4U);
  std::multiset<std::string> reasons;
  for (const auto& letter : letters) {
    reasons.insert(letter.headers.at("x-error-reason"));
    EXPECT_EQ(letter.headers.at("x-failed-by"), "notifier");
    EXPECT_EQ(letter.headers.at("x-original-topic"), topic.name());
  }
  EXPECT_EQ(reasons, (std::multiset<std::string>{"channel_not_found", "channel_not_found",
                                                 "invalid_json", "is_archived"}));
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"), "1"), "1");
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM slack_deliveries "
                                  "WHERE state = 'failed' AND attempts = 1")),
            "3");
  EXPECT_EQ(slack.simulator().stats().requests, 4U);  // one each: nothing was retried
  EXPECT_EQ(ScratchSchema::exec(
                q("SELECT last_error FROM slack_deliveries WHERE delivery_id = 'gone-1'")),
            "channel_not_found: Slack answered channel_not_found");
}

// A backlog that is mostly undecodable: the bad records are dead-lettered together, once each,
// and the good ones among them are posted.
TEST_F(NotifierTest, AFloodOfUndecodableRecordsIsDeadLetteredOnceEachAndTheRestPosted) {
  SimulatorThread slack(fast_slack());
  constexpr int kRecords = 1'200;
  std::vector<Record> records;
  std::set<std::string> bad;
  int good = 0;
  for (int i = 0; i < kRecords; ++i) {
    if (i % 100 == 0) {
      records.push_back(outbox("flood-" + std::to_string(i), "C0FLOOD" + std::to_string(i % 3),
                               "message " + std::to_string(i)));
      ++good;
    } else {
      std::string value = "not JSON " + std::to_string(i);
      bad.insert(value);
      records.push_back({"C0BAD", std::move(value)});
    }
  }
  produce(topic.name(), records);
  auto notifier = start_notifier(slack);
  const auto letters =
      tracker::testing::read_dead_letters(dlq.name(), bad.size(), std::chrono::seconds{2});
  std::set<std::string> seen;
  for (const auto& letter : letters) {
    EXPECT_TRUE(bad.contains(letter.value)) << letter.value;
    EXPECT_TRUE(seen.insert(letter.value).second) << "twice: " << letter.value;
    EXPECT_EQ(letter.headers.at("x-error-reason"), "invalid_json");
    EXPECT_EQ(letter.headers.at("x-failed-by"), "notifier");
  }
  EXPECT_EQ(seen.size(), bad.size());
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"),
                     std::to_string(good)),
            std::to_string(good));
  EXPECT_EQ(copies_at(slack).posted_twice, 0);
  EXPECT_EQ(metric(*notifier, "tracker_notifier_dead_letters_total"),
            static_cast<double>(bad.size()));
  EXPECT_EQ(metric(*notifier, "tracker_notifier_consumed_total"), static_cast<double>(kRecords));
}

TEST_F(NotifierTest, ALongSummaryIsPostedInPartsInItsThreadAsADirectMessage) {
  SimulatorThread slack(fast_slack());
  auto notifier = start_notifier(slack);
  std::string text;
  for (int paragraph = 0; paragraph < 9; ++paragraph) {
    if (paragraph > 0) text += "\n\n";
    text += "## " + std::to_string(paragraph + 1) + "일차\n";
    for (int i = 0; i < 110; ++i) text += "오늘은 카프카를 공부했다. ";  // ~1,500 characters
  }
  produce(topic.name(), {outbox("long-1", "U0READER", text)});
  ASSERT_EQ(
      wait_for(q("SELECT state FROM slack_deliveries WHERE delivery_id = 'long-1'"), "posted"),
      "posted");
  const auto posted = slack.simulator().messages("D0READER");
  ASSERT_GE(posted.size(), 3U);
  EXPECT_TRUE(posted[0].thread_ts.empty());
  EXPECT_TRUE(posted[0].text.starts_with("## 1일차"));
  std::string rejoined = posted[0].text;
  for (std::size_t i = 1; i < posted.size(); ++i) {
    EXPECT_EQ(posted[i].thread_ts, posted[0].ts) << "part " << i << " is not in the thread";
    EXPECT_LE(tracker::slack::character_count(posted[i].text), 4000U);
    rejoined += "\n\n" + posted[i].text;
  }
  EXPECT_EQ(rejoined, text);
  EXPECT_EQ(ScratchSchema::exec(q("SELECT cardinality(part_ts) || '|' || posted_channel FROM "
                                  "slack_deliveries WHERE delivery_id = 'long-1'")),
            std::to_string(posted.size()) + "|D0READER");
}

TEST_F(NotifierTest, SigkillMidRunLosesNothingAndEveryDuplicateIsAccountedFor) {
  SimulatorOptions options = fast_slack();
  options.latency_median_ms = 4;
  options.latency_p99_ms = 20;
  SimulatorThread slack(options);
  auto notifier = start_notifier(slack);
  constexpr int kMessages = 1'200;
  std::vector<Record> records;
  for (int i = 0; i < kMessages; ++i) {
    records.push_back(
        outbox("k" + std::to_string(i), "C" + std::to_string(200 + i % 12), std::to_string(i)));
  }
  produce(topic.name(), records);
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (slack.simulator().stats().posted < 400 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  notifier->kill_hard();
  const auto at_kill = slack.simulator().stats().posted;
  ASSERT_GE(at_kill, 400U);
  ASSERT_LT(at_kill, static_cast<std::uint64_t>(kMessages)) << "finished before the kill";
  notifier->start();
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"),
                     std::to_string(kMessages), 120s),
            std::to_string(kMessages));

  std::map<std::string, int> copies;
  for (const auto& message : slack.simulator().messages()) ++copies[delivery_of(message)];
  EXPECT_EQ(copies.size(), static_cast<std::size_t>(kMessages));  // nothing lost
  int duplicates = 0;
  for (const auto& [id, n] : copies) duplicates += n - 1;
  // A duplicate can come only from a request cut short by the kill: an attempt the restarted
  // notifier found without an outcome.
  const int interrupted = std::stoi(ScratchSchema::exec(
      q("SELECT count(*) FROM slack_delivery_attempts WHERE outcome = 'interrupted'")));
  EXPECT_LE(duplicates, interrupted);
  std::cout << "[ measured ] killed after " << at_kill << " posts; duplicates " << duplicates
            << ", interrupted attempts " << interrupted << "\n";
  RecordProperty("duplicates", duplicates);
  RecordProperty("interrupted_attempts", interrupted);
  EXPECT_EQ(notifier->terminate(), 0);
}

// Slack takes 20 s to answer and the notifier is told to stop with a 1 s grace: the posts in
// flight are cut off when the grace ends rather than at their 30 s request timeout, their
// attempts keep no outcome, and the next notifier marks them interrupted and posts them.
TEST_F(NotifierTest, PostsInFlightAreCutOffWhenTheShutdownGraceEnds) {
  SimulatorOptions slow = fast_slack();
  slow.latency_median_ms = 20'000;
  slow.latency_p99_ms = 21'000;
  SimulatorThread stalled(slow);
  auto notifier =
      start_notifier(stalled, {"TRACKER_SHUTDOWN_GRACE=1s", "TRACKER_SLACK_REQUEST_TIMEOUT=30s"});
  std::vector<Record> records;
  for (int i = 0; i < 3; ++i) {
    records.push_back(outbox("g" + std::to_string(i), "C0G" + std::to_string(i), "x"));
  }
  produce(topic.name(), records);
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (stalled.simulator().stats().requests < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(stalled.simulator().stats().requests, 3U);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(notifier->terminate(), 0);
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_LT(took, 6s) << "exit followed the 1 s grace, not the 20 s answers";
  std::cout << "[ measured ] stopped in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms with 3 posts in flight and a 1 s grace\n";
  EXPECT_EQ(
      ScratchSchema::exec(q("SELECT count(*) FROM slack_delivery_attempts WHERE outcome IS NULL")),
      "3");

  SimulatorThread slack(fast_slack());
  auto next = start_notifier(slack);
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"), "3", 60s),
            "3");
  EXPECT_EQ(ScratchSchema::exec(
                q("SELECT count(*) FROM slack_delivery_attempts WHERE outcome = 'interrupted'")),
            "3");
  EXPECT_EQ(slack.simulator().stats().posted, 3U);
  EXPECT_EQ(next->terminate(), 0);
}

// Two notifiers in two consumer groups read the same records at the same time, so that every
// delivery is taken up by both while it is pending: the delivery's lease lets one post it and
// keeps the other waiting until it is posted. (Groups do this only by mistake; a rebalance does
// it to a few records for a moment, NotifierReplicasTest.ASecondNotifierJoining....)
TEST_F(NotifierTest, TwoNotifiersTakingUpTheSameDeliveriesPostEachOnce) {
  SimulatorOptions options = fast_slack();
  options.latency_median_ms = 30;
  options.latency_p99_ms = 80;
  SimulatorThread slack(options);
  TwoGroups two;
  ASSERT_NO_FATAL_FAILURE(start_two_groups(two, slack, "both"));
  ASSERT_EQ(two.wait_consumed(1), 2);
  constexpr int kMessages = 200;
  std::vector<Record> records;
  for (int i = 0; i < kMessages; ++i) {
    records.push_back(
        outbox("both" + std::to_string(i), "C" + std::to_string(300 + i % 10), std::to_string(i)));
  }
  produce(topic.name(), records);
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted' AND "
                       "delivery_id <> 'both-first'"),
                     std::to_string(kMessages), 60s),
            std::to_string(kMessages));
  // Both notifiers must have gone through every record: the later one finds them posted.
  EXPECT_EQ(two.wait_consumed(kMessages + 1), 2 * (kMessages + 1));
  std::this_thread::sleep_for(300ms);  // a second post would be on its way by now
  // They did meet: one waited for a delivery the other held.
  const double waits = two.sum("tracker_notifier_lease_waits_total{reason=\"held\"}");
  EXPECT_GT(waits, 0);

  const Copies copies = copies_at(slack);
  EXPECT_EQ(copies.deliveries, static_cast<std::size_t>(kMessages + 1));
  EXPECT_EQ(copies.posted_twice, 0);
  EXPECT_EQ(ScratchSchema::exec(
                q("SELECT count(*) FROM slack_delivery_attempts WHERE outcome = 'posted'")),
            std::to_string(kMessages + 1));
  const std::string by_instance = ScratchSchema::exec(
      q("SELECT string_agg(leased_by || '=' || n, ',' ORDER BY leased_by) FROM "
        "(SELECT leased_by, count(*) AS n FROM slack_deliveries GROUP BY leased_by) AS t"));
  std::cout << "[ measured ] two groups on one topic: posted twice " << copies.posted_twice
            << ", deliveries by notifier " << by_instance << ", lease waits " << waits << "\n";
  EXPECT_EQ(two.first->terminate(), 0);
  EXPECT_EQ(two.second->terminate(), 0);
}

// The attempts and the deadline a notifier knows before it holds a delivery's lease may be
// stale: with one attempt allowed, a notifier that saw the other's attempt in flight and gave up
// there would dead-letter and fail a message that the other was posting at that moment.
TEST_F(NotifierTest, ANotifierNeverGivesUpOnADeliveryTheOtherIsPosting) {
  SimulatorOptions options = fast_slack();
  options.latency_median_ms = 150;
  options.latency_p99_ms = 300;
  SimulatorThread slack(options);
  TwoGroups two;
  ASSERT_NO_FATAL_FAILURE(start_two_groups(two, slack, "once", {"TRACKER_SLACK_MAX_ATTEMPTS=1"}));
  ASSERT_EQ(two.wait_consumed(1), 2);
  constexpr int kMessages = 40;
  std::vector<Record> records;
  for (int i = 0; i < kMessages; ++i) {
    records.push_back(
        outbox("once" + std::to_string(i), "C" + std::to_string(400 + i % 8), std::to_string(i)));
  }
  produce(topic.name(), records);
  ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state <> 'pending' AND "
                       "delivery_id <> 'once-first'"),
                     std::to_string(kMessages), 60s),
            std::to_string(kMessages));
  EXPECT_EQ(two.wait_consumed(kMessages + 1), 2 * (kMessages + 1));
  EXPECT_EQ(ScratchSchema::exec(q("SELECT count(*) FROM slack_deliveries WHERE state = 'failed'")),
            "0");
  EXPECT_EQ(two.sum("tracker_notifier_dead_letters_total"), 0);
  const Copies copies = copies_at(slack);
  EXPECT_EQ(copies.deliveries, static_cast<std::size_t>(kMessages + 1));
  EXPECT_EQ(copies.posted_twice, 0);
  EXPECT_EQ(two.first->terminate(), 0);
  EXPECT_EQ(two.second->terminate(), 0);
}

TEST_F(NotifierTest, RedeliveredRecordsAreNotPostedAgain) {
  SimulatorThread slack(fast_slack());
  {
    auto notifier = start_notifier(slack);
    std::vector<Record> records;
    for (int i = 0; i < 50; ++i) records.push_back(outbox("r" + std::to_string(i), "C0R", "x"));
    produce(topic.name(), records);
    ASSERT_EQ(wait_for(q("SELECT count(*) FROM slack_deliveries WHERE state = 'posted'"), "50"),
              "50");
    EXPECT_EQ(notifier->terminate(), 0);
  }
  // A new consumer group reads the whole topic again, as a replay would.
  group = tracker::testing::unique_name("notifier-replay");
  auto replay = start_notifier(slack);
  std::string metrics;
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    tracker::testing::http_get(replay->ops_port(), "/metrics", &metrics);
    if (metrics.find("tracker_notifier_duplicates_total 50") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(metrics.find("tracker_notifier_duplicates_total 50"), std::string::npos);
  EXPECT_EQ(slack.simulator().messages().size(), 50U);
}

}  // namespace
