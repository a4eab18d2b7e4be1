// The consumer against librdkafka's mock cluster: batches, offsets stored after processing,
// pause/resume. tests/integration/kafka repeats the offset contract at scale on the real broker.
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>

#include "mock_cluster.hpp"
#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::kafka::Consumer;
using tracker::kafka::Producer;
using tracker::testing::MockCluster;
using tracker::testing::run;

namespace {

void produce(const std::string& brokers, const std::string& topic, int count) {
  Producer producer({.brokers = brokers}, tracker::log::null_logger());
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < count; ++i) {
      tracker::kafka::OutgoingMessage message{
          .topic = topic, .key = "k" + std::to_string(i % 4), .value = std::to_string(i)};
      message.headers.push_back({"x-test", "yes"});
      auto sent =
          co_await producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable));
      if (std::get<0>(sent)) throw std::runtime_error(std::get<0>(sent).message());
    }
  }());
}

tracker::kafka::ConsumerOptions options(const MockCluster& cluster, const std::string& topic) {
  return {.brokers = cluster.bootstraps(),
          .group_id = "g",
          .topics = {topic},
          .session_timeout = 6s,
          .auto_commit_interval = 100ms};
}

// Consumes until `want` messages arrived (or `limit` passed), storing each offset.
std::vector<std::string> consume(asio::io_context& io, Consumer& consumer, std::size_t want,
                                 std::chrono::seconds limit = 30s) {
  return run(
      io,
      [&]() -> asio::awaitable<std::vector<std::string>> {
        std::vector<std::string> values;
        const auto until = std::chrono::steady_clock::now() + limit;
        while (values.size() < want && std::chrono::steady_clock::now() < until) {
          auto batch = co_await consumer.poll_batch(want - values.size(), 200ms);
          if (!batch) throw std::runtime_error(batch.error().message());
          for (const auto& message : *batch) {
            values.emplace_back(message.value());
            EXPECT_EQ(message.header("x-test"), "yes");
            EXPECT_FALSE(consumer.store_offset(message));
          }
        }
        co_return values;
      }(),
      limit + 5s);
}

}  // namespace

TEST(ConsumerMock, ResumesAfterTheLastStoredOffsetWhenRestarted) {
  MockCluster cluster;
  cluster.create_topic("events", 2);
  produce(cluster.bootstraps(), "events", 40);
  asio::io_context io;
  std::set<std::string> seen;
  {
    Consumer first(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
    for (auto& v : consume(io, first, 15)) EXPECT_TRUE(seen.insert(v).second) << "re-read " << v;
    first.close();
  }
  EXPECT_EQ(seen.size(), 15U);
  Consumer second(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
  for (auto& v : consume(io, second, 25)) EXPECT_TRUE(seen.insert(v).second) << "re-read " << v;
  EXPECT_EQ(seen.size(), 40U);
}

TEST(ConsumerMock, PausedConsumerReceivesNothingUntilResumed) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  asio::io_context io;
  Consumer consumer(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
  consumer.pause();  // before assignment: applies to partitions assigned later too
  produce(cluster.bootstraps(), "events", 5);
  auto during_pause = consume(io, consumer, 5, 3s);
  EXPECT_TRUE(during_pause.empty()) << during_pause.size() << " messages while paused";
  EXPECT_TRUE(consumer.paused());
  EXPECT_FALSE(consumer.assignment().empty()) << "the group assigned the partition meanwhile";
  consumer.resume();
  EXPECT_EQ(consume(io, consumer, 5).size(), 5U);
}

TEST(ConsumerMock, BatchIsBoundedAndEmptyWhenNothingArrives) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  produce(cluster.bootstraps(), "events", 10);
  asio::io_context io;
  Consumer consumer(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
  auto sizes = run(io, [&]() -> asio::awaitable<std::vector<std::size_t>> {
    std::vector<std::size_t> out;
    std::size_t total = 0;
    while (total < 10) {
      auto batch = co_await consumer.poll_batch(3, 5s);
      out.push_back(batch->size());
      total += batch->size();
    }
    auto empty = co_await consumer.poll_batch(3, 300ms);
    out.push_back(empty->size());
    co_return out;
  }());
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) EXPECT_LE(sizes[i], 3U);
  EXPECT_EQ(sizes.back(), 0U);
}

TEST(ConsumerMock, AsyncCloseCommitsAndLeavesWithoutBlockingTheLoop) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  produce(cluster.bootstraps(), "events", 3);
  asio::io_context io;
  asio::thread_pool blocking(1);
  Consumer consumer(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
  EXPECT_EQ(consume(io, consumer, 3).size(), 3U);
  run(io, consumer.async_close(blocking));
  auto after = run(io, consumer.poll_batch(1, 10ms));
  EXPECT_FALSE(after.has_value()) << "a closed consumer must say so";
  Consumer again(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
  EXPECT_TRUE(consume(io, again, 1, 3s).empty()) << "offsets were not committed on close";
}

// A service may still hold messages when its consumer is gone (records abandoned at shutdown).
// The last of them then holds the last reference to the client, and librdkafka's destroy waits
// for every message of the client to be gone: the message must go before the client does.
TEST(ConsumerMock, AMessageThatOutlivesItsConsumerGoesBeforeTheClient) {
  MockCluster cluster;
  cluster.create_topic("events", 1);
  produce(cluster.bootstraps(), "events", 3);
  asio::io_context io;
  asio::thread_pool blocking(1);
  // Shared with the thread below, which may outlive this test if the destroy hangs.
  auto kept = std::make_shared<std::vector<tracker::kafka::Message>>();
  {
    Consumer consumer(io.get_executor(), options(cluster, "events"), tracker::log::null_logger());
    run(io, [&]() -> asio::awaitable<void> {
      const auto until = std::chrono::steady_clock::now() + 30s;
      while (kept->size() < 3 && std::chrono::steady_clock::now() < until) {
        auto batch = co_await consumer.poll_batch(3, 200ms);
        if (!batch) throw std::runtime_error(batch.error().message());
        for (auto& message : *batch) kept->push_back(std::move(message));
      }
    }());
    ASSERT_EQ(kept->size(), 3U);
    run(io, consumer.async_close(blocking));
  }
  auto released = std::make_shared<std::promise<void>>();
  auto done = released->get_future();
  std::thread last_owner([kept = std::move(kept), released] {
    kept->clear();  // destroys the client with the last message
    released->set_value();
  });
  if (done.wait_for(10s) == std::future_status::ready) {
    last_owner.join();
  } else {
    last_owner.detach();  // stuck in rd_kafka_destroy; the process ends it
    FAIL() << "destroying the client's last message did not finish in 10 s";
  }
}

TEST(ConsumerMock, MissingGroupOrTopicsStopsConstruction) {
  asio::io_context io;
  EXPECT_THROW(
      Consumer(io.get_executor(), {.brokers = "127.0.0.1:1", .group_id = "", .topics = {"t"}},
               tracker::log::null_logger()),
      tracker::kafka::ConfigurationError);
  EXPECT_THROW(
      Consumer(io.get_executor(), {.brokers = "127.0.0.1:1", .group_id = "g", .topics = {}},
               tracker::log::null_logger()),
      tracker::kafka::ConfigurationError);
}
