#include "kafka_publisher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/deadline.hpp>
#include <tracker/kafka/error.hpp>

namespace tracker::ingest {

std::string_view to_string(PublishOutcome outcome) {
  switch (outcome) {
    case PublishOutcome::published:
      return "published";
    case PublishOutcome::queue_full:
      return "queue_full";
    case PublishOutcome::timed_out:
      return "timed_out";
    case PublishOutcome::broker_unreachable:
      return "broker_unreachable";
    case PublishOutcome::rejected:
      return "rejected";
  }
  return "rejected";
}

namespace {

boost::asio::awaitable<std::tuple<boost::system::error_code, kafka::DeliveryReport>> send(
    kafka::Producer& producer, kafka::OutgoingMessage message) {
  co_return co_await producer.async_send(std::move(message),
                                         boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace

boost::asio::awaitable<PublishOutcome> KafkaPublisher::publish(kafka::OutgoingMessage message) {
  auto outcome = co_await async::with_timeout(send(producer_, std::move(message)), deadline_);
  if (!outcome) co_return PublishOutcome::timed_out;
  const auto& ec = std::get<0>(*outcome);
  if (!ec) co_return PublishOutcome::published;
  if (ec == kafka::Failure::queue_full) co_return PublishOutcome::queue_full;
  if (ec == kafka::Failure::message_rejected) co_return PublishOutcome::rejected;
  co_return PublishOutcome::broker_unreachable;
}

}  // namespace tracker::ingest
