#include <tracker/kafka/dead_letter_sender.hpp>

#include <tuple>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/result.hpp>

#include <tracker/kafka/dead_letter.hpp>

namespace tracker::kafka {

namespace asio = boost::asio;

DeadLetterSender::DeadLetterSender(Producer& producer, async::PauseGate& gate,
                                   async::GracefulStop& stop,
                                   prometheus::Family<prometheus::Counter>& dead_letters,
                                   log::Logger& logger, DeadLetterOptions options)
    : producer_(producer),
      gate_(gate),
      stop_(stop),
      dead_letters_(dead_letters),
      logger_(logger),
      options_(std::move(options)) {}

asio::awaitable<async::Outcome> DeadLetterSender::send(const Message& original, std::string reason,
                                                       std::string error) {
  const OutgoingMessage message =
      dead_letter_of(original, options_.topic, reason, error, options_.failed_by);
  auto attempt = [&]() -> asio::awaitable<boost::system::result<DeliveryReport>> {
    OutgoingMessage copy = message;
    // No structured binding: GCC 12 miscompiles them in lambda coroutines.
    auto sent_once =
        co_await producer_.async_send(std::move(copy), asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(sent_once)) co_return std::get<0>(sent_once);
    co_return std::get<1>(std::move(sent_once));
  };
  // Whatever the cause (the broker gone, the topic refusing the record), the caller cannot move
  // on past this record: hold the gate until the dead letter is accepted or given up.
  const async::RetryHooks<boost::system::error_code> hooks{
      .failed =
          [&](const boost::system::error_code& ec, int attempt_number,
              std::chrono::milliseconds retry_in) {
            logger_.warn("dead_letter_failed", {{"error", ec.message()},
                                                {"attempt", attempt_number},
                                                {"retry_in_ms", retry_in.count()}});
          },
      .outage_began =
          [&](const boost::system::error_code& /*ec*/) {
            ++failing_;
            gate_.hold(options_.gate_reason);
          },
      .outage_ended =
          [&] {
            --failing_;
            gate_.release(options_.gate_reason);
          }};
  auto sent = co_await async::retry(stop_, options_.retry, hooks, attempt);
  if (!sent) {
    logger_.error("dead_letter_given_up",
                  {{"reason", reason},
                   {"error", sent.error().error.message()},
                   {"outcome", std::string(async::to_string(sent.error().outcome))},
                   {"attempts", sent.error().attempts},
                   {"partition", original.partition()},
                   {"offset", original.offset()},
                   {"action", "leaving the record unacknowledged"}});
    co_return sent.error().outcome;
  }
  dead_letters_.Add({{"reason", reason}}).Increment();
  logger_.warn("dead_lettered", {{"reason", reason},
                                 {"error", error},
                                 {"partition", original.partition()},
                                 {"offset", original.offset()},
                                 {"dlq_partition", sent->partition},
                                 {"dlq_offset", sent->offset}});
  co_return async::Outcome::done;
}

}  // namespace tracker::kafka
