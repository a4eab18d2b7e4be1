#pragma once
// Where ingest puts an event: an interface so that the handler can be tested without a broker.
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include <tracker/kafka/producer.hpp>

namespace tracker::ingest {

enum class PublishOutcome {
  published,           // the broker acknowledged it (acks=all): durable
  queue_full,          // the local producer queue is at its bound: refused at once
  broker_down,         // no broker is reachable now (what /readyz says): refused at once
  timed_out,           // not acknowledged within the publish deadline
  broker_unreachable,  // the producer gave up on the broker
  too_large,           // larger than a record may be: no retry can store it
  invalid,             // a record the broker finds invalid: no retry can store it either
  rejected,            // refused by the setup (unknown topic, not allowed): storable once fixed
};

std::string_view to_string(PublishOutcome outcome);

class EventPublisher {
 public:
  virtual ~EventPublisher() = default;
  virtual boost::asio::awaitable<PublishOutcome> publish(kafka::OutgoingMessage message) = 0;
  // For /readyz: can events be published now?
  [[nodiscard]] virtual bool ready() const = 0;
};

}  // namespace tracker::ingest
