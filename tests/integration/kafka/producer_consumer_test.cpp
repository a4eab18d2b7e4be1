#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/error.hpp>
#include <tracker/kafka/producer.hpp>

#include "kafka_topic.hpp"
#include "topic_checks.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::kafka::Consumer;
using tracker::kafka::Producer;
using tracker::testing::kafka_brokers;
using tracker::testing::run;
using tracker::testing::ScratchTopic;

TEST(KafkaBroker, AcknowledgedMessageComesBackWithKeyValueAndHeaders) {
  ScratchTopic topic(3);
  Producer producer({.brokers = kafka_brokers()}, tracker::log::null_logger());
  asio::io_context io;
  auto [ec, report] =
      run(io, producer.async_send({.topic = topic.name(),
                                   .key = "T1:U1",
                                   .value = R"({"a":1})",
                                   .headers = {tracker::kafka::Header{"x-slack-retry-num", "1"}}},
                                  asio::as_tuple(asio::use_awaitable)));
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_GE(report.offset, 0);

  Consumer consumer(
      io.get_executor(),
      {.brokers = kafka_brokers(), .group_id = topic.name(), .topics = {topic.name()}},
      tracker::log::null_logger());
  auto batch = run(io, [&]() -> asio::awaitable<std::vector<tracker::kafka::Message>> {
    for (int i = 0; i < 100; ++i) {
      auto got = co_await consumer.poll_batch(10, 300ms);
      if (!got) throw std::runtime_error(got.error().message());
      if (!got->empty()) co_return std::move(*got);
    }
    co_return std::vector<tracker::kafka::Message>{};
  }());
  ASSERT_EQ(batch.size(), 1U);
  EXPECT_EQ(batch[0].key(), "T1:U1");
  EXPECT_EQ(batch[0].value(), R"({"a":1})");
  EXPECT_EQ(batch[0].partition(), report.partition);
  EXPECT_EQ(batch[0].offset(), report.offset);
  EXPECT_EQ(batch[0].header("x-slack-retry-num"), "1");
  EXPECT_TRUE(batch[0].timestamp().has_value());
}

TEST(KafkaBroker, ProducerReportsTheBrokerUpOnceConnected) {
  ScratchTopic topic(1);
  Producer producer({.brokers = kafka_brokers(), .statistics_interval = 100ms},
                    tracker::log::null_logger());
  asio::io_context io;
  auto [ec, report] = run(io, producer.async_send({.topic = topic.name(), .key = "k", .value = "v"},
                                                  asio::as_tuple(asio::use_awaitable)));
  ASSERT_FALSE(ec);
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!producer.broker_up() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(producer.broker_up());
}

TEST(KafkaBroker, UnknownTopicIsRejectedNotRetriedForever) {
  Producer producer({.brokers = kafka_brokers(), .message_timeout = 10s},
                    tracker::log::null_logger());
  asio::io_context io;
  auto [ec, report] =
      run(io,
          producer.async_send({.topic = "no-such-topic-" + tracker::testing::unique_name("x"),
                               .key = "k",
                               .value = "v"},
                              asio::as_tuple(asio::use_awaitable)),
          30s);
  EXPECT_TRUE(ec == tracker::kafka::Failure::message_rejected ||
              ec == tracker::kafka::Failure::broker_unreachable)
      << ec.message();
}

TEST(KafkaBroker, PauseStopsDeliveryAndResumeRestartsIt) {
  ScratchTopic topic(2);
  asio::io_context io;
  Consumer consumer(
      io.get_executor(),
      {.brokers = kafka_brokers(), .group_id = topic.name(), .topics = {topic.name()}},
      tracker::log::null_logger());
  // Join the group first, then pause, then produce.
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 100 && consumer.assignment().empty(); ++i)
      co_await consumer.poll_batch(1, 100ms);
  }());
  ASSERT_EQ(consumer.assignment().size(), 2U);
  consumer.pause();
  Producer producer({.brokers = kafka_brokers()}, tracker::log::null_logger());
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10; ++i) {
      // No structured binding here: GCC 12 rejects one inside a lambda coroutine.
      tracker::kafka::OutgoingMessage message{
          .topic = topic.name(), .key = std::to_string(i), .value = "v"};
      auto sent =
          co_await producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable));
      EXPECT_FALSE(std::get<0>(sent));
    }
  }());
  auto count = [&](std::chrono::milliseconds window) {
    return run(io, [&]() -> asio::awaitable<std::size_t> {
      std::size_t n = 0;
      const auto until = std::chrono::steady_clock::now() + window;
      while (std::chrono::steady_clock::now() < until && n < 10) {
        auto batch = co_await consumer.poll_batch(10, 100ms);
        n += batch->size();
      }
      co_return n;
    }());
  };
  EXPECT_EQ(count(2s), 0U);
  consumer.resume();
  EXPECT_EQ(count(15s), 10U);
}

// A consumer restarted on a caught-up partition has read nothing from it yet: its lag is what
// the group has not committed (0), not the partition's whole history from the low watermark.
TEST(KafkaBroker, LagOfARestartedConsumerOnACaughtUpTopicIsZero) {
  ScratchTopic topic(2);
  asio::io_context io;
  std::vector<tracker::testing::TopicRecord> records;
  for (int i = 0; i < 40; ++i) records.push_back({std::to_string(i), "v"});
  tracker::testing::produce(topic.name(), records);
  const tracker::kafka::ConsumerOptions options{
      .brokers = kafka_brokers(), .group_id = topic.name(), .topics = {topic.name()}};
  {
    // First life: read all 40, store and commit their offsets, leave the group.
    Consumer first(io.get_executor(), options, tracker::log::null_logger());
    const std::size_t read = run(io, [&]() -> asio::awaitable<std::size_t> {
      std::size_t n = 0;
      for (int i = 0; i < 200 && n < 40; ++i) {
        auto batch = co_await first.poll_batch(100, 100ms);
        if (!batch) throw std::runtime_error(batch.error().message());
        for (const auto& message : *batch) {
          EXPECT_FALSE(first.store_offset(message));
          ++n;
        }
      }
      co_return n;
    }());
    ASSERT_EQ(read, 40U);
    ASSERT_FALSE(first.commit());
    first.close();
  }
  // Second life: nothing new to read. Counted from the low watermark the lag would be all 40
  // (between the two partitions); it must read 0 for both partitions once they are known.
  Consumer second(io.get_executor(), options, tracker::log::null_logger());
  auto lags = run(io, [&]() -> asio::awaitable<std::vector<tracker::kafka::PartitionLag>> {
    std::vector<tracker::kafka::PartitionLag> seen;
    for (int i = 0; i < 100 && seen.size() < 2; ++i) {
      auto batch = co_await second.poll_batch(10, 100ms);
      if (!batch) throw std::runtime_error(batch.error().message());
      EXPECT_TRUE(batch->empty());
      seen = second.lag();
    }
    co_return seen;
  }());
  ASSERT_EQ(lags.size(), 2U) << "the lag of both partitions should be known within 10 s";
  for (const auto& lag : lags) EXPECT_EQ(lag.messages, 0) << "partition " << lag.partition;
  EXPECT_TRUE(second.positions().empty() || second.positions()[0].offset < 0)
      << "nothing was read in the second life";
}
