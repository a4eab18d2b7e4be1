// kafka::send_all against librdkafka's mock cluster: every message acknowledged, in order per
// partition, never more than the window unacknowledged; failures counted, not hidden.
#include <gtest/gtest.h>

#include <algorithm>

#include <boost/asio/io_context.hpp>

#include <tracker/kafka/error.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/kafka/send_all.hpp>

#include "mock_cluster.hpp"
#include "run.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::kafka::OutgoingMessage;
using tracker::kafka::Producer;
using tracker::kafka::send_all;
using tracker::testing::MockCluster;
using tracker::testing::run;

TEST(SendAllMock, EveryMessageIsAcknowledged) {
  MockCluster cluster;
  cluster.create_topic("events", 3);
  Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  asio::io_context io;
  const auto result = run(io, send_all(
                                  producer, 500,
                                  [](std::size_t i) {
                                    return OutgoingMessage{.topic = "events",
                                                           .key = "T1:U" + std::to_string(i % 7),
                                                           .value = std::to_string(i)};
                                  },
                                  8));
  EXPECT_EQ(result.acknowledged, 500U);
  EXPECT_EQ(result.failed, 0U);
  EXPECT_FALSE(result.first_error);
}

TEST(SendAllMock, FailuresAreCountedWithTheFirstErrorAndTheWindowHolds) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  cluster.broker_down();
  Producer producer(
      {.brokers = cluster.bootstraps(), .message_timeout = 300ms, .close_timeout = 100ms},
      tracker::log::null_logger());
  asio::io_context io;
  // With the broker down nothing is acknowledged, so message 2 can only be asked for once one
  // of the first two has failed, a message timeout after the start.
  std::vector<std::chrono::steady_clock::time_point> asked;
  const auto started = std::chrono::steady_clock::now();
  const auto result = run(io,
                          send_all(
                              producer, 4,
                              [&](std::size_t) {
                                asked.push_back(std::chrono::steady_clock::now());
                                return OutgoingMessage{.topic = "events", .key = "k", .value = "v"};
                              },
                              2),
                          20s);
  EXPECT_EQ(result.acknowledged, 0U);
  EXPECT_EQ(result.failed, 4U);
  EXPECT_EQ(result.first_error, tracker::kafka::Failure::broker_unreachable)
      << result.first_error.message();
  ASSERT_EQ(asked.size(), 4U);
  EXPECT_GE(asked[2] - started, 250ms);
}

}  // namespace

namespace {

TEST(SendAllMock, AnExceptionFromTheSourceComesOutAfterTheSendsInFlightComplete) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  asio::io_context io;
  EXPECT_THROW(run(io, send_all(
                           producer, 10,
                           [](std::size_t i) {
                             if (i == 5) throw std::runtime_error("source failed");
                             return OutgoingMessage{.topic = "events", .key = "k", .value = "v"};
                           },
                           4)),
               std::runtime_error);
  // Had the exception left while sends were in flight, their completions would write to the
  // destroyed coroutine frame: the ASan build of this test reports that as a use after free.
}

}  // namespace
