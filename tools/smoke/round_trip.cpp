#include "round_trip.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/messages/topics.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/pg/transaction.hpp>

namespace tracker::smoke {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const pg::Statement kInsertLog{"smoke_insert_log", R"sql(
  INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at)
  VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::double precision))
  ON CONFLICT (team_id, channel_id, ts) DO NOTHING)sql"};
const pg::Statement kMarkProcessed{"smoke_mark_processed",
                                   "INSERT INTO processed_events (event_id) VALUES ($1) "
                                   "ON CONFLICT (event_id) DO NOTHING"};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void step(const char* name, const std::string& detail, double ms) {
  std::printf("  %-26s %9.1f ms   %s\n", name, ms, detail.c_str());
  std::fflush(stdout);
}

// The slack-events record ingest would publish for a smoke message.
kafka::OutgoingMessage smoke_record(const std::string& topic, const std::string& event_id,
                                    const std::string& ts) {
  const nlohmann::json payload = {{"type", "event_callback"},
                                  {"team_id", "TSMOKE"},
                                  {"api_app_id", "ASMOKE"},
                                  {"event_id", event_id},
                                  {"event_time", std::time(nullptr)},
                                  {"event",
                                   {{"type", "message"},
                                    {"channel", "CSMOKE"},
                                    {"user", "USMOKE"},
                                    {"text", "Smoke test: studied Kafka consumer groups for 2h"},
                                    {"ts", ts},
                                    {"event_ts", ts},
                                    {"channel_type", "channel"}}}};
  const slack::EventCallback event{
      .event_id = event_id, .team_id = "TSMOKE", .user_id = "USMOKE", .event_type = "message"};
  return {.topic = topic,
          .key = messages::partition_key(event),
          .value = messages::make_envelope(event, payload.dump(),
                                           {.received_at = std::chrono::system_clock::now()})};
}

// Waits until the group has assigned partitions to the consumer.
asio::awaitable<bool> wait_until_assigned(kafka::Consumer& consumer, Clock::time_point until) {
  while (Clock::now() < until) {
    auto batch = co_await consumer.poll_batch(1, 100ms);  // drives the group join
    if (!batch) co_return false;
    if (!batch->empty()) {
      // Older traffic of the topic: nothing to do with it but step past it.
      for (const auto& message : *batch) consumer.store_offset(message);
    }
    if (!consumer.assignment().empty()) co_return true;
  }
  co_return false;
}

}  // namespace

asio::awaitable<bool> round_trip(RoundTripOptions options, log::Logger& logger) {
  const auto executor = co_await asio::this_coro::executor;
  const auto until = Clock::now() + options.limit;
  const std::string topic(messages::topics::kSlackEvents);
  const auto unique = std::to_string(std::time(nullptr)) + std::to_string(getpid());
  const std::string event_id = "EvSMOKE" + unique;
  const std::string ts =
      std::to_string(std::time(nullptr)) + "." + std::to_string(getpid() % 1000000);

  std::printf("Smoke round trip through Kafka (%s) and PostgreSQL\n", options.brokers.c_str());

  auto start = Clock::now();
  // One long-lived group reading from its committed offsets (the topic's start the first
  // time): a message produced after joining can then never fall before where it reads, which a
  // fresh group starting at "latest" cannot promise. Each run reads what arrived since the last.
  kafka::Consumer consumer(executor,
                           {.brokers = options.brokers,
                            .group_id = "tracker-smoke",
                            .topics = {topic},
                            .client_id = "tracker-smoke",
                            .auto_offset_reset = "earliest"},
                           logger);
  if (!co_await wait_until_assigned(consumer, until)) {
    std::printf("FAILED: the consumer was not assigned partitions of %s in time\n", topic.c_str());
    co_return false;
  }
  step("join consumer group",
       std::to_string(consumer.assignment().size()) + " partitions of " + topic, ms_since(start));

  start = Clock::now();
  kafka::Producer producer({.brokers = options.brokers, .client_id = "tracker-smoke"}, logger);
  kafka::OutgoingMessage outgoing = smoke_record(topic, event_id, ts);
  auto [sent, report] =
      co_await producer.async_send(std::move(outgoing), asio::as_tuple(asio::use_awaitable));
  if (sent) {
    std::printf("FAILED: publish: %s\n", sent.message().c_str());
    co_return false;
  }
  step("publish (acks=all)",
       event_id + " -> " + topic + "[" + std::to_string(report.partition) + "]@" +
           std::to_string(report.offset),
       ms_since(start));

  start = Clock::now();
  std::optional<messages::Envelope> received;
  while (!received && Clock::now() < until) {
    auto batch = co_await consumer.poll_batch(100, 500ms);
    if (!batch) {
      std::printf("FAILED: consume: %s\n", batch.error().message().c_str());
      co_return false;
    }
    for (const auto& message : *batch) {
      auto envelope = messages::decode_envelope(message.value());
      if (envelope.has_value() && envelope->event_id == event_id) received = *std::move(envelope);
      consumer.store_offset(message);
    }
  }
  if (!received) {
    std::printf("FAILED: %s did not come back from %s in time\n", event_id.c_str(), topic.c_str());
    co_return false;
  }
  step("consume", "same event back from the broker", ms_since(start));

  start = Clock::now();
  pg::Pool pool(executor,
                {.connect = {.conninfo = options.database_url, .application_name = "tracker-smoke"},
                 .max_connections = 1},
                logger);
  const auto& event = received->payload["event"];
  auto stored = co_await pg::in_transaction(
      pool, [&](pg::Connection& c) -> asio::awaitable<pg::Result<std::int64_t>> {
        auto inserted = co_await c.execute(
            kInsertLog,
            pg::Params{received->team_id, event["user"].get<std::string>(),
                       event["channel"].get<std::string>(), event["ts"].get<std::string>(),
                       event_id, event["text"].get<std::string>(), event["ts"].get<std::string>()});
        if (!inserted) co_return inserted.error();
        auto marked = co_await c.execute(kMarkProcessed, pg::Params{event_id});
        if (!marked) co_return marked.error();
        co_return inserted->affected();
      });
  if (!stored) {
    std::printf("FAILED: store: %s\n", stored.error().describe().c_str());
    co_return false;
  }
  step("store in PostgreSQL", std::to_string(*stored) + " row inserted in one transaction",
       ms_since(start));

  auto lease = co_await pool.acquire();
  if (!lease) co_return false;
  auto row = co_await (*lease)->query(
      "SELECT id, team_id, user_id, channel_id, ts, body, posted_at::text FROM study_logs "
      "WHERE event_id = $1",
      pg::Params{event_id});
  if (!row || row->size() != 1) {
    std::printf("FAILED: the row is not in study_logs\n");
    co_return false;
  }
  std::printf(
      "\n  study_logs row: id=%s team=%s user=%s channel=%s ts=%s posted_at=%s\n"
      "                  body=\"%s\"\n\n",
      std::string(row->text(0, 0)).c_str(), std::string(row->text(0, 1)).c_str(),
      std::string(row->text(0, 2)).c_str(), std::string(row->text(0, 3)).c_str(),
      std::string(row->text(0, 4)).c_str(), std::string(row->text(0, 6)).c_str(),
      std::string(row->text(0, 5)).c_str());

  // The smoke user must not linger as a real user's data would.
  static_cast<void>(
      co_await (*lease)->query("DELETE FROM study_logs WHERE event_id = $1", pg::Params{event_id}));
  static_cast<void>(co_await (*lease)->query("DELETE FROM processed_events WHERE event_id = $1",
                                             pg::Params{event_id}));
  asio::thread_pool blocking(1);
  co_await consumer.async_close(blocking);
  std::printf("OK: produce -> consume -> PostgreSQL round trip complete (smoke rows removed)\n");
  co_return true;
}

}  // namespace tracker::smoke
