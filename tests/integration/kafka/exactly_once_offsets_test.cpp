// 10,000 messages through the real broker, consumed in a consumer group that stores each offset
// only after "processing" it. The consumer stops part-way, a new one takes over the group, and
// together they see every message exactly once: nothing re-read, nothing lost.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>

#include "kafka_topic.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::kafka::Consumer;
using tracker::kafka::Producer;
using tracker::testing::kafka_brokers;
using tracker::testing::run;
using tracker::testing::ScratchTopic;

namespace {

constexpr int kMessages = 10'000;
constexpr int kFirstConsumerTakes = 4'321;

// Sends every message with at most `window` unacknowledged at a time.
asio::awaitable<int> produce_all(Producer& producer, const std::string& topic) {
  int acknowledged = 0;
  int next = 0;
  constexpr int kWindow = 500;
  auto executor = co_await asio::this_coro::executor;
  while (acknowledged < kMessages) {
    int in_flight = 0;
    int done = 0;
    asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
    for (; next < kMessages && in_flight < kWindow; ++next, ++in_flight) {
      // Bound to this coroutine's executor: without one, completions run on Asio's system executor.
      producer.async_send({.topic = topic,
                           .key = "user-" + std::to_string(next % 97),
                           .value = std::to_string(next)},
                          asio::bind_executor(executor, [&](boost::system::error_code ec,
                                                            tracker::kafka::DeliveryReport) {
                            if (ec) {
                              ADD_FAILURE() << ec.message();
                            } else {
                              ++acknowledged;
                            }
                            if (++done == in_flight) all_done.cancel();
                          }));
    }
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return acknowledged;
}

// Processes messages until `stop_after` have been processed (or the topic runs dry for 5 s).
asio::awaitable<void> process(Consumer& consumer, std::vector<int>& processed, int stop_after) {
  auto quiet_since = std::chrono::steady_clock::now();
  int taken = 0;
  while (taken < stop_after && std::chrono::steady_clock::now() - quiet_since < 5s) {
    auto batch = co_await consumer.poll_batch(
        static_cast<std::size_t>(std::min(500, stop_after - taken)), 200ms);
    if (!batch) throw std::runtime_error(batch.error().message());
    if (!batch->empty()) quiet_since = std::chrono::steady_clock::now();
    for (const auto& message : *batch) {
      processed.push_back(std::stoi(std::string(message.value())));
      EXPECT_FALSE(consumer.store_offset(message));
      ++taken;
    }
  }
}

}  // namespace

TEST(KafkaOffsets, RestartedConsumerNeitherRereadsNorLosesAnyOf10000Messages) {
  ScratchTopic topic(3);
  asio::io_context io;
  {
    Producer producer({.brokers = kafka_brokers(), .linger = 5ms}, tracker::log::null_logger());
    ASSERT_EQ(run(io, produce_all(producer, topic.name()), 120s), kMessages);
  }
  tracker::kafka::ConsumerOptions options{
      .brokers = kafka_brokers(), .group_id = topic.name(), .topics = {topic.name()}};
  asio::thread_pool blocking(1);
  std::vector<int> first_run;
  {
    Consumer consumer(io.get_executor(), options, tracker::log::null_logger());
    run(io, process(consumer, first_run, kFirstConsumerTakes), 120s);
    run(io, consumer.async_close(blocking));
  }
  ASSERT_EQ(first_run.size(), static_cast<std::size_t>(kFirstConsumerTakes));

  std::vector<int> second_run;
  {
    Consumer consumer(io.get_executor(), options, tracker::log::null_logger());
    run(io, process(consumer, second_run, kMessages), 120s);  // reads until 5 s of silence
    run(io, consumer.async_close(blocking));
  }

  std::vector<int> seen(kMessages, 0);
  for (int v : first_run) ++seen[static_cast<std::size_t>(v)];
  for (int v : second_run) ++seen[static_cast<std::size_t>(v)];
  int lost = 0;
  int reread = 0;
  for (int count : seen) {
    if (count == 0) ++lost;
    if (count > 1) ++reread;
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(reread, 0);
  EXPECT_EQ(first_run.size() + second_run.size(), static_cast<std::size_t>(kMessages));
}
