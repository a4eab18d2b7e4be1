// The producer against librdkafka's mock cluster: acknowledgement, queue-full, an unreachable
// broker, and cancellation by a deadline. The same behaviour against the real broker is in
// tests/integration/kafka.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/deadline.hpp>
#include <tracker/kafka/error.hpp>
#include <tracker/kafka/producer.hpp>

#include "mock_cluster.hpp"
#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::kafka::DeliveryReport;
using tracker::kafka::Failure;
using tracker::kafka::Producer;
using tracker::testing::MockCluster;
using tracker::testing::run;

namespace {

using SendResult = std::tuple<boost::system::error_code, DeliveryReport>;

asio::awaitable<SendResult> send(Producer& producer, std::string topic, std::string key) {
  // A named message: GCC 12 destroys a braced aggregate temporary inside co_await twice.
  tracker::kafka::OutgoingMessage message{
      .topic = std::move(topic), .key = std::move(key), .value = "{}"};
  co_return co_await producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable));
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

}  // namespace

TEST(ProducerMock, SendCompletesWithThePartitionAndOffsetTheBrokerAssigned) {
  MockCluster cluster;
  cluster.create_topic("events", 3);
  Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  asio::io_context io;
  auto [ec, report] = run(io, send(producer, "events", "T1:U1"));
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(report.topic, "events");
  EXPECT_GE(report.partition, 0);
  EXPECT_LT(report.partition, 3);
  EXPECT_EQ(report.offset, 0);
  auto [ec2, report2] = run(io, send(producer, "events", "T1:U1"));
  ASSERT_FALSE(ec2);
  EXPECT_EQ(report2.partition, report.partition) << "same key, same partition";
  EXPECT_EQ(report2.offset, 1);
}

// Deliveries reported by one poll are handed over per executor in batches: whatever the mix of
// executors (many strands, more than are grouped, and one event loop shared by many sends),
// every send completes once, on its own executor, with its own message's report.
TEST(ProducerMock, EachCompletionRunsOnItsOwnExecutorWhenManyAreReportedAtOnce) {
  MockCluster cluster;
  cluster.create_topic("events", 3);
  Producer producer({.brokers = cluster.bootstraps(), .linger = 20ms}, tracker::log::null_logger());
  asio::io_context io;
  constexpr int kOnStrands = 40;
  constexpr int kOnTheLoop = 40;
  int completed = 0;
  int on_the_wrong_executor = 0;
  std::set<std::pair<std::int32_t, std::int64_t>> offsets;
  auto check = [&](auto executor, const boost::system::error_code& ec, const DeliveryReport& r) {
    ++completed;
    if (!executor.running_in_this_thread()) ++on_the_wrong_executor;
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(offsets.emplace(r.partition, r.offset).second) << "a report given twice";
  };
  for (int i = 0; i < kOnStrands + kOnTheLoop; ++i) {
    tracker::kafka::OutgoingMessage message{
        .topic = "events", .key = "T1:U" + std::to_string(i), .value = "{}"};
    if (i < kOnStrands) {
      auto strand = asio::make_strand(io);
      producer.async_send(std::move(message),
                          asio::bind_executor(strand, [&, strand](auto ec, DeliveryReport r) {
                            check(strand, ec, r);
                          }));
    } else {
      auto loop = io.get_executor();
      producer.async_send(std::move(message), asio::bind_executor(loop, [&, loop](auto ec, auto r) {
                            check(loop, ec, r);
                          }));
    }
  }
  io.run_for(10s);
  EXPECT_EQ(completed, kOnStrands + kOnTheLoop);
  EXPECT_EQ(on_the_wrong_executor, 0);
  EXPECT_EQ(offsets.size(), static_cast<std::size_t>(kOnStrands + kOnTheLoop));
}

TEST(ProducerMock, FullLocalQueueIsRefusedAtOnceWithItsOwnError) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();  // nothing leaves the queue
  Producer producer({.brokers = cluster.bootstraps(),
                     .message_timeout = 60s,
                     .queue_max_messages = 2,
                     .close_timeout = 100ms},
                    tracker::log::null_logger());
  asio::io_context io;
  auto results = run(io, [&]() -> asio::awaitable<std::vector<boost::system::error_code>> {
    std::vector<boost::system::error_code> out;
    for (int i = 0; i < 3; ++i) {
      // The first two wait in the queue (bounded by the deadline); the third is refused.
      auto outcome = co_await tracker::async::with_timeout(send(producer, "events", "k"), 300ms);
      out.push_back(outcome ? std::get<0>(*outcome) : asio::error::timed_out);
    }
    co_return out;
  }());
  EXPECT_EQ(results[0], asio::error::timed_out);
  EXPECT_EQ(results[1], asio::error::timed_out);
  EXPECT_TRUE(results[2] == Failure::queue_full) << results[2].message();
  EXPECT_EQ(producer.queue_depth(), 2);
}

TEST(ProducerMock, UnreachableBrokerFailsTheSendWhenTheMessageTimesOut) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();
  Producer producer({.brokers = cluster.bootstraps(), .message_timeout = 1s},
                    tracker::log::null_logger());
  asio::io_context io;
  auto [ec, report] = run(io, send(producer, "events", "k"), 20s);
  EXPECT_TRUE(ec == Failure::broker_unreachable) << ec.message();
  EXPECT_FALSE(ec == Failure::queue_full);
}

TEST(ProducerMock, DeadlineCancelsTheWaitLongBeforeTheMessageTimeout) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();
  Producer producer(
      {.brokers = cluster.bootstraps(), .message_timeout = 120s, .close_timeout = 100ms},
      tracker::log::null_logger());
  asio::io_context io;
  // run() gives up after 10 s: only a cancelled send can finish inside it.
  auto outcome = run(io, tracker::async::with_timeout(send(producer, "events", "k"), 200ms), 10s);
  EXPECT_FALSE(outcome.has_value());
}

TEST(ProducerMock, ASendsOwnDeadlineEndsItsWaitWithTimedOutAndNothingElse) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();
  Producer producer(
      {.brokers = cluster.bootstraps(), .message_timeout = 120s, .close_timeout = 100ms},
      tracker::log::null_logger());
  asio::io_context io;
  const auto send_within = [&](std::chrono::milliseconds deadline) -> asio::awaitable<SendResult> {
    tracker::kafka::OutgoingMessage message{.topic = "events", .key = "k", .value = "{}"};
    co_return co_await producer.async_send(std::move(message), deadline,
                                           asio::as_tuple(asio::use_awaitable));
  };
  // Two deadlines at once, the longer sent first: each ends at its own time.
  const auto started = std::chrono::steady_clock::now();
  auto [longer, shorter] = run(
      io,
      [&]() -> asio::awaitable<std::pair<std::chrono::milliseconds, std::chrono::milliseconds>> {
        using namespace asio::experimental::awaitable_operators;
        const auto timed =
            [&](std::chrono::milliseconds deadline) -> asio::awaitable<std::chrono::milliseconds> {
          auto [ec, report] = co_await send_within(deadline);
          EXPECT_EQ(ec, asio::error::timed_out) << ec.message();
          co_return std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started);
        };
        auto [a, b] = co_await (timed(600ms) && timed(150ms));
        co_return std::pair{a, b};
      }(),
      10s);
  EXPECT_GE(shorter, 150ms);
  EXPECT_LT(shorter, 600ms);
  EXPECT_GE(longer, 600ms);
  EXPECT_LT(longer, 5s);
  EXPECT_EQ(producer.queue_depth(), 2) << "the messages stay queued";

  // Acknowledged within the deadline: completes as a send without one.
  cluster.broker_up();
  auto [ec, report] = run(io, send_within(5s), 20s);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(report.topic, "events");
}

TEST(ProducerMock, BrokerUpFollowsTheClusterConnection) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  Producer producer({.brokers = cluster.bootstraps(), .statistics_interval = 100ms},
                    tracker::log::null_logger());
  asio::io_context io;
  auto [ec, report] = run(io, send(producer, "events", "k"));
  ASSERT_FALSE(ec);
  EXPECT_TRUE(eventually([&] { return producer.broker_up(); }));
  cluster.broker_down();
  EXPECT_TRUE(eventually([&] { return !producer.broker_up(); }));
  cluster.broker_up();
  EXPECT_TRUE(eventually([&] { return producer.broker_up(); }));
}

TEST(ProducerMock, SendsStillQueuedAtDestructionAreCompletedNotLost) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();
  asio::io_context io;
  std::optional<boost::system::error_code> completion;
  {
    Producer producer(
        {.brokers = cluster.bootstraps(), .message_timeout = 60s, .close_timeout = 200ms},
        tracker::log::null_logger());
    producer.async_send({.topic = "events", .key = "k", .value = "v"},
                        asio::bind_executor(io, [&](boost::system::error_code ec, DeliveryReport) {
                          completion = ec;
                        }));
  }
  io.run_for(5s);
  ASSERT_TRUE(completion.has_value()) << "the handler was never called";
  EXPECT_TRUE(*completion) << "a purged message must not look delivered";
}

TEST(ProducerMock, InvalidSettingStopsConstructionNamingIt) {
  EXPECT_THROW(Producer({.brokers = "127.0.0.1:1", .settings = {{"acks", "sometimes"}}},
                        tracker::log::null_logger()),
               tracker::kafka::ConfigurationError);
}

TEST(ProducerMock, TheTopicsItWillWriteAreLookedUpBeforeTheFirstSend) {
  MockCluster cluster;
  cluster.create_topic("events", 3);
  Producer producer({.brokers = cluster.bootstraps(), .topics = {"events"}},
                    tracker::log::null_logger());
  EXPECT_TRUE(eventually([&] { return producer.topics_known(); }));
  asio::io_context io;
  auto [ec, report] = run(io, send(producer, "events", "T1:U1"));
  EXPECT_FALSE(ec) << ec.message();
}

TEST(ProducerMock, WithoutTopicsToLookUpTheyCountAsKnownAtOnce) {
  MockCluster cluster;
  Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  EXPECT_TRUE(producer.topics_known());
}

TEST(ProducerMock, TopicsAreNotKnownWhileNoBrokerAnswers) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();
  Producer producer({.brokers = cluster.bootstraps(), .close_timeout = 100ms, .topics = {"events"}},
                    tracker::log::null_logger());
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(producer.topics_known());
  cluster.broker_up();
  EXPECT_TRUE(eventually([&] { return producer.topics_known(); }));
}
