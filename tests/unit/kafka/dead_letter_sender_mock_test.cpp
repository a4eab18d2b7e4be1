// kafka::DeadLetterSender against librdkafka's mock cluster: a dead letter that the broker takes,
// and one it cannot take (the broker down), which holds the pause gate until the policy's bound.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/async/pause_gate.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/dead_letter_sender.hpp>
#include <tracker/kafka/producer.hpp>

#include "mock_cluster.hpp"
#include "run.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::async::Outcome;
using tracker::kafka::Consumer;
using tracker::kafka::Message;
using tracker::kafka::Producer;
using tracker::testing::MockCluster;
using tracker::testing::run;

namespace {

// The first record `consumer` receives.
Message first_record(asio::io_context& io, Consumer& consumer) {
  std::optional<Message> first;
  run(io, [&]() -> asio::awaitable<void> {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!first && std::chrono::steady_clock::now() < until) {
      auto batch = co_await consumer.poll_batch(1, 200ms);
      if (!batch) throw std::runtime_error(batch.error().message());
      if (!batch->empty()) first.emplace(std::move(batch->front()));
    }
  }());
  if (!first) throw std::runtime_error("nothing arrived");
  return std::move(*first);
}

void produce_poison(asio::io_context& io, Producer& producer, const std::string& topic) {
  run(io, [&]() -> asio::awaitable<void> {
    tracker::kafka::OutgoingMessage message{.topic = topic, .key = "T1:U1", .value = "{oops"};
    auto sent =
        co_await producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(sent)) throw std::runtime_error(std::get<0>(sent).message());
  }());
}

tracker::kafka::ConsumerOptions dead_letter_consumer_options(const MockCluster& cluster,
                                                             const std::string& topic,
                                                             const std::string& group) {
  return {.brokers = cluster.bootstraps(),
          .group_id = group,
          .topics = {topic},
          .session_timeout = 6s,
          .auto_commit_interval = 100ms};
}

struct DeadLetterFixture {
  MockCluster cluster;
  asio::io_context io;
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& dead_letters =
      prometheus::BuildCounter().Name("dead_letters_total").Help("test").Register(registry);
  std::vector<std::string> gate_calls;
  tracker::async::PauseGate gate{[this] { gate_calls.emplace_back("pause"); },
                                 [this] { gate_calls.emplace_back("resume"); }};
  tracker::async::GracefulStop stop{io.get_executor()};

  DeadLetterFixture() {
    cluster.create_topic("events", 1);
    cluster.create_topic("events.dlq", 1);
  }
};

}  // namespace

TEST(DeadLetterSenderMock, SendsTheRecordWithItsOriginAndCountsIt) {
  DeadLetterFixture f;
  Producer producer({.brokers = f.cluster.bootstraps()}, tracker::log::null_logger());
  produce_poison(f.io, producer, "events");
  Consumer consumer(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events", "g"),
                    tracker::log::null_logger());
  const Message original = first_record(f.io, consumer);
  tracker::kafka::DeadLetterSender sender(
      producer, f.gate, f.stop, f.dead_letters, tracker::log::null_logger(),
      {.topic = "events.dlq",
       .failed_by = "test",
       .retry = {.initial = 10ms, .max_delay = 50ms, .max_attempts = 3, .max_elapsed = 5s}});
  const Outcome outcome = run(f.io, sender.send(original, "undecodable", "not JSON"));
  EXPECT_EQ(outcome, Outcome::done);
  EXPECT_EQ(f.dead_letters.Add({{"reason", "undecodable"}}).Value(), 1.0);
  EXPECT_TRUE(f.gate_calls.empty());
  EXPECT_EQ(sender.failing(), 0);

  Consumer dlq(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events.dlq", "d"),
               tracker::log::null_logger());
  const Message letter = first_record(f.io, dlq);
  EXPECT_EQ(letter.value(), "{oops");
  EXPECT_EQ(letter.header("x-error-reason"), "undecodable");
  EXPECT_EQ(letter.header("x-error"), "not JSON");
  EXPECT_EQ(letter.header("x-failed-by"), "test");
  EXPECT_EQ(letter.header("x-original-offset"), std::to_string(original.offset()));
}

TEST(DeadLetterSenderMock, HoldsTheGateWhileTheBrokerIsDownAndGivesUpAtThePolicysBound) {
  DeadLetterFixture f;
  Producer seed({.brokers = f.cluster.bootstraps()}, tracker::log::null_logger());
  produce_poison(f.io, seed, "events");
  Consumer consumer(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events", "g"),
                    tracker::log::null_logger());
  const Message original = first_record(f.io, consumer);
  Producer producer({.brokers = f.cluster.bootstraps(), .message_timeout = 200ms},
                    tracker::log::null_logger());
  f.cluster.broker_down();
  tracker::kafka::DeadLetterSender sender(
      producer, f.gate, f.stop, f.dead_letters, tracker::log::null_logger(),
      {.topic = "events.dlq",
       .failed_by = "test",
       .retry = {.initial = 10ms, .max_delay = 10ms, .max_attempts = 2, .max_elapsed = 10s}});
  bool held_while_failing = false;
  const Outcome outcome = run(f.io, [&]() -> asio::awaitable<Outcome> {
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          while (!f.gate.held() && sender.failing() == 0) {
            timer.expires_after(5ms);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          held_while_failing = f.gate.holds("dead_letter") && sender.failing() == 1;
        },
        asio::detached);
    co_return co_await sender.send(original, "undecodable", "not JSON");
  }());
  f.cluster.broker_up();
  EXPECT_EQ(outcome, Outcome::exhausted);
  EXPECT_TRUE(held_while_failing);
  EXPECT_FALSE(f.gate.held());
  EXPECT_EQ(f.gate_calls, (std::vector<std::string>{"pause", "resume"}));
  EXPECT_EQ(sender.failing(), 0);
  EXPECT_EQ(f.dead_letters.Add({{"reason", "undecodable"}}).Value(), 0.0);
}

TEST(DeadLetterSenderMock, AnAbandonedStopEndsTheRetriesAndReleasesTheGate) {
  DeadLetterFixture f;
  Producer seed({.brokers = f.cluster.bootstraps()}, tracker::log::null_logger());
  produce_poison(f.io, seed, "events");
  Consumer consumer(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events", "g"),
                    tracker::log::null_logger());
  const Message original = first_record(f.io, consumer);
  Producer producer({.brokers = f.cluster.bootstraps(), .message_timeout = 100ms},
                    tracker::log::null_logger());
  f.cluster.broker_down();
  tracker::kafka::DeadLetterSender sender(
      producer, f.gate, f.stop, f.dead_letters, tracker::log::null_logger(),
      {.topic = "events.dlq",
       .failed_by = "test",
       .retry = {.initial = 1h,
                 .max_delay = 1h,
                 .max_attempts = tracker::async::kUnlimitedAttempts,
                 .max_elapsed = tracker::async::kUnlimitedTime}});
  f.stop.request(300ms);
  const auto started = std::chrono::steady_clock::now();
  const Outcome outcome = run(f.io, sender.send(original, "undecodable", "not JSON"));
  f.cluster.broker_up();
  EXPECT_EQ(outcome, Outcome::abandoned);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_FALSE(f.gate.held());
  EXPECT_EQ(sender.failing(), 0);
}
