#pragma once
// ingest as the service host runs it: the Slack Events endpoint (an http::Server answering with
// IngestHandler) publishing through the host's producer.
//   listen(): binds TRACKER_INGEST_ADDRESS:TRACKER_INGEST_PORT;
//   run():    serves until stop(grace), then lets the requests in progress finish for up to
//             `grace` (each is answered, 200 only for what Kafka acknowledged) and closes the
//             rest;
//   ready():  the producer sees its broker and knows the topic.
// The constructor raises the process's descriptor limit to what TRACKER_MAX_CONNECTIONS needs
// and throws config::ConfigError when it cannot.
#include <chrono>
#include <cstdint>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <tracker/async/event.hpp>
#include <tracker/http/server.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>

#include <tracker/ingest/ingest_handler.hpp>
#include <tracker/ingest/kafka_publisher.hpp>
#include <tracker/ingest/settings.hpp>

namespace tracker::ingest {

class Service {
 public:
  // `executor`: the shutdown and the memory trim; `loops`: single-threaded event loops
  // (async::EventLoops) that accept and serve the connections, which must outlive `producer`.
  Service(boost::asio::any_io_executor executor, std::vector<boost::asio::any_io_executor> loops,
          kafka::Producer& producer, const Settings& settings, prometheus::Registry& registry,
          log::Logger& logger);

  void listen();
  boost::asio::awaitable<bool> run();
  // Thread-safe.
  void stop(std::chrono::milliseconds grace);
  [[nodiscard]] bool ready() const { return publisher_.ready(); }
  [[nodiscard]] std::uint16_t port() const noexcept { return server_.port(); }

 private:
  boost::asio::awaitable<bool> serve();
  // Every 2 s: when the allocator holds more than 8 MiB freed (a burst of connections has
  // closed), gives it back to the system (malloc_trim), so that a burst's peak does not stay
  // resident.
  boost::asio::awaitable<void> return_memory();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  log::Logger& logger_;
  KafkaPublisher publisher_;
  IngestHandler handler_;
  http::Server server_;
  async::Event stop_requested_;           // on strand_: set by stop()
  boost::asio::steady_timer trim_timer_;  // on strand_
  prometheus::Counter& memory_trims_;
  std::chrono::milliseconds grace_{0};
};

// Raises RLIMIT_NOFILE to what `settings` needs (connections, the ops port, Kafka, headroom);
// throws config::ConfigError naming TRACKER_MAX_CONNECTIONS when the hard limit is too low.
void reserve_descriptors(const Settings& settings, log::Logger& logger);

}  // namespace tracker::ingest
