// kafka::DeadLetterSender against librdkafka's mock cluster: a dead letter that the broker takes,
// and one it cannot take (the broker down), which holds the pause gate until the policy's bound;
// a batch of them (send_all): all written once, the failed ones sent again, the gate held once.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <span>
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

// The first `count` records `consumer` receives (fewer if 30 s pass first).
std::vector<Message> first_records(asio::io_context& io, Consumer& consumer, std::size_t count) {
  std::vector<Message> records;
  run(io, [&]() -> asio::awaitable<void> {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (records.size() < count && std::chrono::steady_clock::now() < until) {
      auto batch = co_await consumer.poll_batch(count - records.size(), 200ms);
      if (!batch) throw std::runtime_error(batch.error().message());
      for (Message& record : *batch) records.push_back(std::move(record));
    }
  }());
  return records;
}

// The first record `consumer` receives.
Message first_record(asio::io_context& io, Consumer& consumer) {
  std::vector<Message> first = first_records(io, consumer, 1);
  if (first.empty()) throw std::runtime_error("nothing arrived");
  return std::move(first.front());
}

// Everything `consumer` receives: at least `expected` records (unless 30 s pass first), then
// whatever else comes until nothing more does for a second (a record written twice would).
std::vector<Message> all_records(asio::io_context& io, Consumer& consumer, std::size_t expected) {
  std::vector<Message> records;
  run(io, [&]() -> asio::awaitable<void> {
    auto quiet_since = std::chrono::steady_clock::now();
    const auto until = quiet_since + 30s;
    while ((records.size() < expected || std::chrono::steady_clock::now() - quiet_since < 1s) &&
           std::chrono::steady_clock::now() < until) {
      auto batch = co_await consumer.poll_batch(500, 200ms);
      if (!batch) throw std::runtime_error(batch.error().message());
      if (!batch->empty()) quiet_since = std::chrono::steady_clock::now();
      for (Message& record : *batch) records.push_back(std::move(record));
    }
  }());
  return records;
}

void produce_poison(asio::io_context& io, Producer& producer, const std::string& topic,
                    int count = 1) {
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < count; ++i) {
      tracker::kafka::OutgoingMessage message{
          .topic = topic,
          .key = "T1:U" + std::to_string(i + 1),
          .value = i == 0 ? "{oops" : "{oops " + std::to_string(i)};
      auto sent =
          co_await producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable));
      if (std::get<0>(sent)) throw std::runtime_error(std::get<0>(sent).message());
    }
  }());
}

std::vector<tracker::kafka::DeadLetter> letters_of(const std::vector<Message>& originals) {
  std::vector<tracker::kafka::DeadLetter> letters;
  for (const Message& original : originals) {
    letters.push_back({.original = &original,
                       .reason = original.offset() % 2 == 0 ? "undecodable" : "invalid",
                       .error = "offset " + std::to_string(original.offset())});
  }
  return letters;
}

// Each original offset in the dead-letter records, with how many times it is there.
std::map<std::string, int> letters_by_origin(const std::vector<Message>& dead_letters) {
  std::map<std::string, int> seen;
  for (const Message& letter : dead_letters)
    ++seen[std::string(letter.header("x-original-offset").value_or(""))];
  return seen;
}

// How many of the dead letters in `seen` (letters_by_origin) are of `original`: 0 when missing.
int copies_of(const std::map<std::string, int>& seen, const Message& original) {
  const auto it = seen.find(std::to_string(original.offset()));
  return it == seen.end() ? 0 : it->second;
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

TEST(DeadLetterSenderMock, SendAllWritesEveryLetterOnceWithItsOwnReasonAndCountsThem) {
  DeadLetterFixture f;
  Producer producer({.brokers = f.cluster.bootstraps()}, tracker::log::null_logger());
  constexpr int kCount = 120;
  produce_poison(f.io, producer, "events", kCount);
  Consumer consumer(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events", "g"),
                    tracker::log::null_logger());
  const std::vector<Message> originals = first_records(f.io, consumer, kCount);
  ASSERT_EQ(originals.size(), static_cast<std::size_t>(kCount));
  tracker::kafka::DeadLetterSender sender(
      producer, f.gate, f.stop, f.dead_letters, tracker::log::null_logger(),
      {.topic = "events.dlq",
       .failed_by = "test",
       .retry = {.initial = 10ms, .max_delay = 50ms, .max_attempts = 3, .max_elapsed = 5s}});
  const std::vector<tracker::kafka::DeadLetter> letters = letters_of(originals);
  const std::span<const tracker::kafka::DeadLetter> all(letters);
  EXPECT_EQ(run(f.io, sender.send_all(all)), Outcome::done);
  EXPECT_EQ(f.dead_letters.Add({{"reason", "undecodable"}}).Value(), kCount / 2);
  EXPECT_EQ(f.dead_letters.Add({{"reason", "invalid"}}).Value(), kCount / 2);
  EXPECT_TRUE(f.gate_calls.empty());

  Consumer dlq(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events.dlq", "d"),
               tracker::log::null_logger());
  const std::vector<Message> written = all_records(f.io, dlq, kCount);
  ASSERT_EQ(written.size(), static_cast<std::size_t>(kCount));
  const std::map<std::string, int> seen = letters_by_origin(written);
  for (const Message& original : originals) {
    EXPECT_EQ(copies_of(seen, original), 1) << original.offset();
  }
  for (const Message& letter : written) {
    const std::string offset(letter.header("x-original-offset").value_or(""));
    EXPECT_EQ(letter.header("x-error"), "offset " + offset);
    EXPECT_EQ(letter.header("x-error-reason"),
              std::stoll(offset) % 2 == 0 ? "undecodable" : "invalid");
  }
  EXPECT_EQ(run(f.io, sender.send_all({})), Outcome::done);  // none: done at once
}

TEST(DeadLetterSenderMock, SendAllSendsOnlyTheRefusedLettersAgainAndHoldsTheGateOnce) {
  DeadLetterFixture f;
  Producer producer({.brokers = f.cluster.bootstraps()}, tracker::log::null_logger());
  constexpr int kCount = 40;
  produce_poison(f.io, producer, "events", kCount);
  Consumer consumer(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events", "g"),
                    tracker::log::null_logger());
  const std::vector<Message> originals = first_records(f.io, consumer, kCount);
  ASSERT_EQ(originals.size(), static_cast<std::size_t>(kCount));
  // Four partitions: the batch's letters go in four produce requests (one per partition).
  f.cluster.create_topic("events.dlq4", 4);
  tracker::kafka::DeadLetterSender sender(
      producer, f.gate, f.stop, f.dead_letters, tracker::log::null_logger(),
      {.topic = "events.dlq4",
       .failed_by = "test",
       .retry = {.initial = 10ms, .max_delay = 50ms, .max_attempts = 5, .max_elapsed = 10s}});
  // The broker refuses the first produce request for good (the client does not retry it): the
  // letters in it fail, the rest of the batch is written. Sending the whole batch again would
  // write those twice.
  f.cluster.fail_next_produce_requests({RD_KAFKA_RESP_ERR_INVALID_RECORD});
  const std::vector<tracker::kafka::DeadLetter> letters = letters_of(originals);
  const std::span<const tracker::kafka::DeadLetter> all(letters);
  EXPECT_EQ(run(f.io, sender.send_all(all)), Outcome::done);
  EXPECT_EQ(f.dead_letters.Add({{"reason", "undecodable"}}).Value() +
                f.dead_letters.Add({{"reason", "invalid"}}).Value(),
            kCount);
  EXPECT_EQ(f.gate_calls, (std::vector<std::string>{"pause", "resume"}));
  EXPECT_FALSE(f.gate.held());
  EXPECT_EQ(sender.failing(), 0);

  Consumer dlq(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events.dlq4", "d"),
               tracker::log::null_logger());
  const std::map<std::string, int> seen = letters_by_origin(all_records(f.io, dlq, kCount));
  for (const Message& original : originals) {
    EXPECT_EQ(copies_of(seen, original), 1) << original.offset();
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kCount));
}

TEST(DeadLetterSenderMock, SendAllWaitsOutABrokerOutageAndWritesEveryLetter) {
  DeadLetterFixture f;
  Producer seed({.brokers = f.cluster.bootstraps()}, tracker::log::null_logger());
  constexpr int kCount = 30;
  produce_poison(f.io, seed, "events", kCount);
  Consumer consumer(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events", "g"),
                    tracker::log::null_logger());
  const std::vector<Message> originals = first_records(f.io, consumer, kCount);
  ASSERT_EQ(originals.size(), static_cast<std::size_t>(kCount));
  Producer producer({.brokers = f.cluster.bootstraps(), .message_timeout = 200ms},
                    tracker::log::null_logger());
  f.cluster.broker_down();
  tracker::kafka::DeadLetterSender sender(
      producer, f.gate, f.stop, f.dead_letters, tracker::log::null_logger(),
      {.topic = "events.dlq",
       .failed_by = "test",
       .retry = {.initial = 20ms,
                 .max_delay = 100ms,
                 .max_attempts = tracker::async::kUnlimitedAttempts,
                 .max_elapsed = tracker::async::kUnlimitedTime}});
  const std::vector<tracker::kafka::DeadLetter> letters = letters_of(originals);
  bool held_while_down = false;
  const Outcome outcome = run(f.io, [&]() -> asio::awaitable<Outcome> {
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          while (sender.failing() == 0) {
            timer.expires_after(5ms);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          held_while_down = f.gate.holds("dead_letter") && sender.failing() == 1;
          timer.expires_after(500ms);
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
          f.cluster.broker_up();
        },
        asio::detached);
    const std::span<const tracker::kafka::DeadLetter> all(letters);
    co_return co_await sender.send_all(all);
  }());
  EXPECT_EQ(outcome, Outcome::done);
  EXPECT_TRUE(held_while_down);
  EXPECT_EQ(f.gate_calls, (std::vector<std::string>{"pause", "resume"}));
  EXPECT_EQ(f.dead_letters.Add({{"reason", "undecodable"}}).Value() +
                f.dead_letters.Add({{"reason", "invalid"}}).Value(),
            kCount);

  Consumer dlq(f.io.get_executor(), dead_letter_consumer_options(f.cluster, "events.dlq", "d"),
               tracker::log::null_logger());
  const std::map<std::string, int> seen = letters_by_origin(all_records(f.io, dlq, kCount));
  for (const Message& original : originals) {
    EXPECT_GE(copies_of(seen, original), 1) << original.offset();
  }
}
