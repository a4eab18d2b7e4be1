// The worker's consume loop against librdkafka's mock cluster and a fake store: consumption
// pauses while the database is down and resumes after; a record the database refuses goes to
// the dead-letter topic, and its offset is stored only once the dead letter is durable; a stop
// with records unwritten returns within the grace and acknowledges none of them.
// tests/integration/worker repeats these with the real broker and PostgreSQL.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>

#include <tracker/worker/batch_store.hpp>
#include <tracker/worker/worker.hpp>
#include "fixtures.hpp"
#include "mock_cluster.hpp"
#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::testing::MockCluster;
using tracker::testing::run;
namespace worker = tracker::worker;
namespace kafka = tracker::kafka;
namespace pg = tracker::pg;

namespace {

using WorkerClock = std::chrono::steady_clock;

// A database that is up, down (each write fails at once, as when it refuses connections), or
// hanging (each write gets no answer for `latency`, then times out, as the pool's query timeout
// makes it). Up, it refuses (a data error, class 22) any batch holding a message whose text
// contains "REFUSE", and records the text of what it wrote.
class FakeStore final : public worker::BatchStore {
 public:
  enum class Mode { up, down, hanging };
  Mode mode = Mode::up;
  std::chrono::milliseconds latency{300};
  std::vector<std::string> written;
  int attempts = 0;

  asio::awaitable<pg::Result<worker::BatchOutcome>> write(
      std::vector<const worker::Event*> events) override {
    ++attempts;
    if (mode == Mode::hanging) {
      asio::steady_timer timer(co_await asio::this_coro::executor, latency);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return pg::Error{pg::Error::Kind::timeout, "", "no answer before the deadline"};
    }
    if (mode == Mode::down) {
      co_return pg::Error{pg::Error::Kind::connection, "", "connection refused"};
    }
    for (const worker::Event* event : events) {
      if (std::get<worker::MessageWrite>(event->action).text.find("REFUSE") != std::string::npos) {
        co_return pg::Error{pg::Error::Kind::query, "22021", "invalid byte sequence"};
      }
    }
    worker::BatchOutcome outcome;
    outcome.applied_mask.assign(events.size(), true);
    outcome.applied = events.size();
    for (const worker::Event* event : events) {
      written.push_back(std::get<worker::MessageWrite>(event->action).text);
    }
    co_return outcome;
  }
  asio::awaitable<pg::Result<std::size_t>> prune_processed(std::chrono::milliseconds,
                                                           std::size_t) override {
    co_return std::size_t{0};
  }
  [[nodiscard]] bool reachable() const noexcept override { return mode == Mode::up; }
  [[nodiscard]] pg::PoolStats pool_stats() const noexcept override { return {}; }
};

// A slack-events record (as ingest wraps it) of a channel message saying `text`.
std::string record_saying(const std::string& text, int n) {
  nlohmann::json payload = nlohmann::json::parse(tracker::testing::fixture("slack/message.json"));
  payload["event_id"] = "EvWorkerMock" + std::to_string(n);
  payload["event"]["text"] = text;
  payload["event"]["ts"] = "1731974400.00" + std::to_string(1000 + n);
  payload["event"]["client_msg_id"] = "msg-" + std::to_string(n);
  const std::string body = payload.dump();
  const auto request = tracker::slack::classify(body, tracker::slack::BodyFormat::json);
  const auto& callback = std::get<tracker::slack::EventCallback>(request);
  return tracker::messages::make_envelope(callback, body, {});
}

void produce_records(const MockCluster& cluster, const std::vector<std::string>& texts) {
  kafka::Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    for (std::size_t i = 0; i < texts.size(); ++i) {
      kafka::OutgoingMessage message{.topic = "events",
                                     .key = "T061EG9R6:U2147483697",
                                     .value = record_saying(texts[i], static_cast<int>(i))};
      auto sent =
          co_await producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable));
      if (std::get<0>(sent)) throw std::runtime_error(std::get<0>(sent).message());
    }
  }());
}

// Waits (polling every few milliseconds) until `condition` holds; false after `limit`. A
// template, not a std::function: a temporary with a destructor in a co_await'ed call is
// destroyed twice by GCC 12.
template <typename Condition>
asio::awaitable<bool> eventually(Condition condition, std::chrono::milliseconds limit = 30'000ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto until = WorkerClock::now() + limit;
  while (!condition()) {
    if (WorkerClock::now() >= until) co_return false;
    timer.expires_after(5ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return true;
}

double counter_value(prometheus::Registry& registry, const std::string& name,
                     const std::string& label_value) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      if (label_value.empty() && metric.label.empty()) return metric.counter.value;
      for (const auto& label : metric.label) {
        if (label.value == label_value) return metric.counter.value;
      }
    }
  }
  return 0;
}

// A worker on the mock cluster's "events" (one partition), its dead letters going to
// `dlq_brokers`' "events.dlq".
struct WorkerUnderTest {
  WorkerUnderTest(const MockCluster& cluster, const std::string& dlq_brokers)
      : consumer(io.get_executor(),
                 {.brokers = cluster.bootstraps(),
                  .group_id = "worker",
                  .topics = {"events"},
                  .session_timeout = 6s,
                  .auto_commit_interval = 100ms},
                 tracker::log::null_logger()),
        producer({.brokers = dlq_brokers, .message_timeout = 300ms}, tracker::log::null_logger()),
        worker(io.get_executor(), consumer, producer, store, registry, tracker::log::null_logger(),
               {.dlq_topic = "events.dlq",
                .batch_max = 10,
                .batch_linger = 5ms,
                .lanes = 1,
                .retry_initial = 10ms,
                .retry_max = 50ms,
                .poll_wait = 20ms,
                .prune_interval = 0ms}) {}

  // The next offset the group committed for partition 0 (negative: none) after committing what
  // the worker stored. Blocking: a broker round trip.
  std::int64_t acknowledged() {
    static_cast<void>(consumer.commit());  // fails when nothing was stored: then none is
    const auto committed = consumer.committed(5s);
    return committed.empty() ? -1 : committed.front().offset;
  }

  asio::io_context io;
  prometheus::Registry registry;
  FakeStore store;
  kafka::Consumer consumer;
  kafka::Producer producer;
  worker::Worker worker;
  bool returned = false;
  bool healthy = false;

  void start() {
    asio::co_spawn(io, worker.run(), [this](const std::exception_ptr& error, bool result) {
      if (error) std::rethrow_exception(error);
      returned = true;
      healthy = result;
    });
  }
};

}  // namespace

TEST(WorkerMock, PausesConsumptionWhileTheDatabaseIsDownAndResumesAfter) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.create_topic("events.dlq", 1);
  produce_records(cluster, {"one", "two", "three"});
  WorkerUnderTest t(cluster, cluster.bootstraps());
  t.store.mode = FakeStore::Mode::down;
  t.start();
  run(t.io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await eventually([&] { return t.store.attempts >= 3; }));
    EXPECT_TRUE(t.consumer.paused());
    EXPECT_FALSE(t.worker.ready());
    EXPECT_TRUE(t.store.written.empty());
    EXPECT_LT(t.acknowledged(), 0) << "acknowledged while the database was down";

    t.store.mode = FakeStore::Mode::up;
    EXPECT_TRUE(co_await eventually([&] { return t.store.written.size() == 3; }));
    EXPECT_TRUE(co_await eventually([&] { return !t.consumer.paused() && t.worker.ready(); }));
    EXPECT_TRUE(co_await eventually([&] { return t.acknowledged() == 3; }, 5'000ms));
    t.worker.stop(1s);
    EXPECT_TRUE(co_await eventually([&] { return t.returned; }));
  }());
  EXPECT_TRUE(t.healthy);
  EXPECT_EQ(t.store.written, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_GE(counter_value(t.registry, "tracker_worker_db_retries_total", ""), 2.0);
}

TEST(WorkerMock, DeadLettersWhatTheDatabaseRefusesAndAcknowledgesItOnlyOnceTheDeadLetterIsDurable) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  MockCluster dead_letter_cluster;
  dead_letter_cluster.create_topic("events.dlq", 1);
  produce_records(cluster, {"before", "REFUSE me", "after"});
  dead_letter_cluster.broker_down();
  WorkerUnderTest t(cluster, dead_letter_cluster.bootstraps());
  t.start();
  run(t.io, [&]() -> asio::awaitable<void> {
    // The refused batch is written one event at a time: "before" goes in, the refused one
    // waits for the dead-letter topic, consumption pauses.
    EXPECT_TRUE(co_await eventually([&] { return !t.worker.ready() && t.consumer.paused(); }));
    EXPECT_EQ(t.store.written, (std::vector<std::string>{"before"}));
    // Never past the refused record (offset 1): whatever batch "before" came in, the refused
    // record and what follows it stay unacknowledged.
    EXPECT_LE(t.acknowledged(), 1) << "acknowledged before the dead letter was durable";

    dead_letter_cluster.broker_up();
    EXPECT_TRUE(co_await eventually([&] { return t.store.written.size() == 2; }));
    EXPECT_TRUE(co_await eventually([&] { return t.acknowledged() == 3; }, 5'000ms));
    EXPECT_TRUE(t.worker.ready());
    EXPECT_FALSE(t.consumer.paused());
    t.worker.stop(1s);
    EXPECT_TRUE(co_await eventually([&] { return t.returned; }));
  }());
  EXPECT_EQ(t.store.written, (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(counter_value(t.registry, "tracker_worker_dead_letters_total", "database"), 1.0);
}

TEST(WorkerMock, AStopWithRecordsUnwrittenReturnsWithinTheGraceAndAcknowledgesNone) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.create_topic("events.dlq", 1);
  produce_records(cluster, {"one", "two"});
  WorkerUnderTest t(cluster, cluster.bootstraps());
  t.store.mode = FakeStore::Mode::hanging;
  t.store.latency = 300ms;
  t.start();
  constexpr auto kGrace = 500ms;
  WorkerClock::time_point stopped_at{};
  WorkerClock::time_point returned_at{};
  run(t.io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await eventually([&] { return t.store.attempts >= 1; }));
    stopped_at = WorkerClock::now();
    t.worker.stop(kGrace);
    EXPECT_TRUE(co_await eventually([&] { return t.returned; }, 10'000ms));
    returned_at = WorkerClock::now();
  }());
  // The lane went on trying through the grace, then gave up after the write in flight ended.
  EXPECT_GE(returned_at - stopped_at, kGrace);
  EXPECT_LT(returned_at - stopped_at, kGrace + t.store.latency + 1s);
  EXPECT_GE(t.store.attempts, 2);
  EXPECT_TRUE(t.healthy) << "a stop past the grace is not a failure";
  EXPECT_TRUE(t.store.written.empty());
  EXPECT_LT(t.acknowledged(), 0) << "acknowledged records that were never written";
  EXPECT_EQ(t.worker.buffered(), 0U);
}
