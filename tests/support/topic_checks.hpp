#pragma once
// What integration tests feed a service (records into its topic) and check of what it wrote
// (rows in the test's schema, records in a dead-letter topic).
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/kafka/send_all.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>

#include "environment.hpp"
#include "pg_schema.hpp"
#include "run.hpp"

namespace tracker::testing {

namespace asio = boost::asio;

struct TopicRecord {
  std::string key;
  std::string value;
};

// A record as ingest publishes it: the envelope of an event_callback body, keyed by person.
inline TopicRecord record_of(const std::string& body) {
  const auto request = slack::classify(body, slack::BodyFormat::json);
  const auto& callback = std::get<slack::EventCallback>(request);
  return {
      messages::partition_key(callback),
      messages::make_envelope(callback, body, {.received_at = std::chrono::system_clock::now()})};
}

// Produces `records` into `topic` and fails the test unless the broker acknowledged them all.
inline void produce(const std::string& topic, const std::vector<TopicRecord>& records) {
  asio::io_context io;
  tracker::kafka::Producer producer({.brokers = kafka_brokers()}, tracker::log::null_logger());
  const auto sent = run(io,
                        tracker::kafka::send_all(
                            producer, records.size(),
                            [&](std::size_t i) {
                              return tracker::kafka::OutgoingMessage{
                                  .topic = topic, .key = records[i].key, .value = records[i].value};
                            },
                            1'000),
                        std::chrono::seconds{120});
  ASSERT_EQ(sent.failed, 0U) << sent.first_error.message();
  ASSERT_EQ(sent.acknowledged, records.size());
}

// Waits until `sql` returns `expected` (as text), up to `limit`; returns the last value.
inline std::string wait_for(const std::string& sql, const std::string& expected,
                            std::chrono::seconds limit = std::chrono::seconds{60}) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::string value;
  for (;;) {
    try {
      value = ScratchSchema::exec(sql);
    } catch (const std::exception& error) {
      value = error.what();  // the tables may not exist before the service has migrated
    }
    if (value == expected || std::chrono::steady_clock::now() >= until) return value;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

struct DeadLetter {
  std::string value;
  std::map<std::string, std::string> headers;
};

// Reads `topic` from the start until it holds at least `expected` records (at most 60 s), then,
// with `settle`, goes on reading that much longer to catch any extra.
inline std::vector<DeadLetter> read_dead_letters(
    const std::string& topic, std::size_t expected,
    std::chrono::milliseconds settle = std::chrono::milliseconds{0}) {
  asio::io_context io;
  tracker::kafka::Consumer consumer(io.get_executor(),
                                    {.brokers = tracker::testing::kafka_brokers(),
                                     .group_id = tracker::testing::unique_name("dlq-reader"),
                                     .topics = {topic}},
                                    tracker::log::null_logger());
  std::vector<DeadLetter> out;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  std::optional<std::chrono::steady_clock::time_point> settled;
  while (std::chrono::steady_clock::now() < until) {
    if (out.size() >= expected) {
      if (!settled) settled = std::chrono::steady_clock::now() + settle;
      if (std::chrono::steady_clock::now() >= *settled) break;
    }
    auto batch = run(io, consumer.poll_batch(500, std::chrono::milliseconds{200}));
    if (!batch) break;
    for (const auto& message : *batch) {
      DeadLetter letter{std::string(message.value()), {}};
      for (const char* name : {"x-error", "x-error-reason", "x-original-topic",
                               "x-original-partition", "x-original-offset", "x-failed-by"}) {
        if (auto value = message.header(name)) letter.headers[name] = std::string(*value);
      }
      out.push_back(std::move(letter));
    }
  }
  consumer.close();
  return out;
}

// Reads `topic` from the start until it holds at least `expected` records, then goes on reading
// for `settle` more to catch any extra (a duplicate that must not be there); at most `limit`.
inline std::vector<TopicRecord> read_records(
    const std::string& topic, std::size_t expected,
    std::chrono::milliseconds settle = std::chrono::milliseconds{1'500},
    std::chrono::seconds limit = std::chrono::seconds{90}) {
  asio::io_context io;
  tracker::kafka::Consumer consumer(io.get_executor(),
                                    {.brokers = tracker::testing::kafka_brokers(),
                                     .group_id = tracker::testing::unique_name("reader"),
                                     .topics = {topic}},
                                    tracker::log::null_logger());
  std::vector<TopicRecord> out;
  const auto until = std::chrono::steady_clock::now() + limit;
  std::optional<std::chrono::steady_clock::time_point> settle_until;
  while (std::chrono::steady_clock::now() < until) {
    if (out.size() >= expected && !settle_until) {
      settle_until = std::chrono::steady_clock::now() + settle;
    }
    if (settle_until && std::chrono::steady_clock::now() >= *settle_until) break;
    auto batch = run(io, consumer.poll_batch(500, std::chrono::milliseconds{200}));
    if (!batch) break;
    for (const auto& message : *batch) {
      out.push_back({std::string(message.key()), std::string(message.value())});
    }
  }
  consumer.close();
  return out;
}

}  // namespace tracker::testing
