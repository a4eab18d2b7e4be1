#pragma once
#include <chrono>

#include "publisher.hpp"

namespace tracker::ingest {

// Publishes through the idempotent producer and waits for the broker's acknowledgement at most
// `deadline`; past it the wait is cancelled and the caller answers 503, so Slack retries. The
// message itself stays queued and may still be delivered (a duplicate the worker absorbs).
class KafkaPublisher final : public EventPublisher {
 public:
  KafkaPublisher(kafka::Producer& producer, std::chrono::milliseconds deadline)
      : producer_(producer), deadline_(deadline) {}

  boost::asio::awaitable<PublishOutcome> publish(kafka::OutgoingMessage message) override;
  // The broker answers and the topic's partitions are known, so a publish goes out at once.
  [[nodiscard]] bool ready() const override {
    return producer_.broker_up() && producer_.topics_known();
  }

 private:
  kafka::Producer& producer_;
  std::chrono::milliseconds deadline_;
};

}  // namespace tracker::ingest
