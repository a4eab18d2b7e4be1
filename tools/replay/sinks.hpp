#pragma once
// Where replayed records go: ingest over HTTP (each event's Slack body, signed anew), or another
// topic (the record as it is). Both blocking, for the replay's single thread; every wait is
// bounded.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/kafka/client_config.hpp>
#include <tracker/kafka/message.hpp>

namespace tracker::replay {

// What a sink made of the records so far: accepted, and refused or failed by cause.
struct Tally {
  std::uint64_t accepted = 0;
  std::map<std::string, std::uint64_t> failed;
  [[nodiscard]] std::uint64_t failures() const;
};

class IngestSink {
 public:
  IngestSink(std::string host, std::uint16_t port, std::string path, config::Secret secret);
  // POSTs the body; a 503 or a lost connection (ingest could not reach Kafka, or restarted) is
  // tried again, at most 3 times in all with a growing pause; any other answer is final.
  void send(const kafka::Message& record, Tally& tally);

 private:
  bool connect();
  std::optional<unsigned> post(std::string_view body);

  std::string host_;
  std::uint16_t port_;
  std::string path_;
  config::Secret secret_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
};

class TopicSink {
 public:
  TopicSink(const std::string& brokers, std::string topic);
  ~TopicSink();
  TopicSink(const TopicSink&) = delete;
  TopicSink& operator=(const TopicSink&) = delete;

  // Queues the record (key, value, headers) for the topic; waits while librdkafka's queue is
  // full, at most `limit`.
  void send(const kafka::Message& record, Tally& tally,
            std::chrono::milliseconds limit = std::chrono::seconds{30});
  // Waits up to `limit` for every acknowledgement; what is still unacknowledged then is
  // counted as failed ("unacknowledged").
  void flush(Tally& tally, std::chrono::milliseconds limit = std::chrono::seconds{30});

 private:
  struct Reports;
  std::unique_ptr<Reports> reports_;
  std::shared_ptr<rd_kafka_t> client_;
  std::string topic_;
  std::uint64_t queued_ = 0;
};

}  // namespace tracker::replay
