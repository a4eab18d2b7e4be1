#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

#include <tracker/ingest/publisher.hpp>

namespace tracker::ingest {

// Publishes through the idempotent producer and waits for the broker's acknowledgement at most
// `deadline`; past it the wait is cancelled and the caller answers 503, so Slack retries. The
// message itself stays queued and may still be delivered (a duplicate the worker absorbs).
// While the producer knows no broker is reachable (the signal /readyz uses), events are refused
// at once (broker_down) rather than each waiting out the deadline; see refuse_at_once().
class KafkaPublisher final : public EventPublisher {
 public:
  // How long the broker must have been seen down before events are refused at once.
  static constexpr std::chrono::milliseconds kDownFor{250};

  KafkaPublisher(kafka::Producer& producer, std::chrono::milliseconds deadline)
      : producer_(producer), deadline_(deadline) {}

  boost::asio::awaitable<PublishOutcome> publish(kafka::OutgoingMessage message) override;
  // The broker answers and the topic's partitions are known, so a publish goes out at once.
  [[nodiscard]] bool ready() const override {
    return producer_.broker_up() && producer_.topics_known();
  }

 private:
  [[nodiscard]] bool refuse_at_once() const;

  kafka::Producer& producer_;
  std::chrono::milliseconds deadline_;
};

}  // namespace tracker::ingest
