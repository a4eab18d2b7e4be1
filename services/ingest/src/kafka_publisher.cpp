#include <tracker/ingest/kafka_publisher.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/asio/error.hpp>
#include <tracker/kafka/error.hpp>

namespace tracker::ingest {

std::string_view to_string(PublishOutcome outcome) {
  switch (outcome) {
    case PublishOutcome::published: return "published";
    case PublishOutcome::queue_full: return "queue_full";
    case PublishOutcome::broker_down: return "broker_down";
    case PublishOutcome::timed_out: return "timed_out";
    case PublishOutcome::broker_unreachable: return "broker_unreachable";
    case PublishOutcome::too_large: return "too_large";
    case PublishOutcome::invalid: return "invalid";
    case PublishOutcome::rejected: return "rejected";
  }
  return "rejected";
}

namespace {

boost::asio::awaitable<std::tuple<boost::system::error_code, kafka::DeliveryReport>> send(
    kafka::Producer& producer, kafka::OutgoingMessage message, std::chrono::milliseconds deadline) {
  co_return co_await producer.async_send(std::move(message), deadline,
                                         boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace

bool KafkaPublisher::refuse_at_once() const {
  if (producer_.broker_up()) return false;
  // Just after the broker is seen down, messages go out as usual: a connection the broker
  // closed for idleness is back within milliseconds, and so is their acknowledgement. Past
  // kDownFor, one message queued in the producer keeps it reconnecting (its acknowledgement is
  // the first sign that the broker is back) and every other event is refused at once.
  return std::chrono::steady_clock::now() - producer_.broker_down_since() >= kDownFor &&
         producer_.queue_depth() > 0;
}

boost::asio::awaitable<PublishOutcome> KafkaPublisher::publish(kafka::OutgoingMessage message) {
  if (refuse_at_once()) co_return PublishOutcome::broker_down;
  // The producer keeps the deadline (no timer per request).
  const auto [ec, report] = co_await send(producer_, std::move(message), deadline_);
  if (!ec) co_return PublishOutcome::published;
  if (ec == boost::asio::error::timed_out) co_return PublishOutcome::timed_out;
  if (ec == kafka::Failure::queue_full) co_return PublishOutcome::queue_full;
  // What Kafka refuses about the record itself, which no retry of the same event can change.
  if (ec == kafka::Failure::record_too_large) co_return PublishOutcome::too_large;
  if (ec == kafka::Failure::record_invalid) co_return PublishOutcome::invalid;
  // An unknown topic or a missing permission is the setup's, not the event's: once it is
  // fixed the event can be stored, so Slack's retry is still wanted (and /readyz is failing).
  if (ec == kafka::Failure::message_rejected) co_return PublishOutcome::rejected;
  co_return PublishOutcome::broker_unreachable;
}

}  // namespace tracker::ingest
