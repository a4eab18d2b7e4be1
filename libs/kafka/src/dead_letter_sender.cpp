#include <tracker/kafka/dead_letter_sender.hpp>

#include <array>
#include <functional>
#include <map>
#include <numeric>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

#include <tracker/kafka/dead_letter.hpp>
#include <tracker/kafka/send_all.hpp>

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
  const std::array<DeadLetter, 1> one{DeadLetter{&original, std::move(reason), std::move(error)}};
  const std::span<const DeadLetter> letters(one);
  co_return co_await send_all(letters);
}

namespace {

// "undecodable=250 invalid_envelope=3": a batch's reasons and how many had each.
std::string count_by_reason(std::span<const DeadLetter> letters,
                            const std::vector<std::size_t>& which) {
  std::map<std::string_view, std::size_t> counts;
  for (std::size_t i : which) ++counts[letters[i].reason];
  std::string text;
  for (const auto& [reason, count] : counts) {
    if (!text.empty()) text += ' ';
    text += std::string(reason) + '=' + std::to_string(count);
  }
  return text;
}

}  // namespace

asio::awaitable<async::Outcome> DeadLetterSender::send_all(std::span<const DeadLetter> letters) {
  if (letters.empty()) co_return async::Outcome::done;
  std::vector<OutgoingMessage> messages;
  messages.reserve(letters.size());
  for (const DeadLetter& letter : letters) {
    messages.push_back(dead_letter_of(*letter.original, options_.topic, letter.reason, letter.error,
                                      options_.failed_by));
  }
  // The letters not acknowledged yet, by index; each attempt sends all of them at once.
  std::vector<std::size_t> pending(letters.size());
  std::iota(pending.begin(), pending.end(), std::size_t{0});
  // Where a lone letter went, for its log line (a batch's line names no positions).
  DeliveryReport lone_report;
  std::function<void(std::size_t, const DeliveryReport&)> on_delivered;
  if (letters.size() == 1) {
    on_delivered = [&](std::size_t /*i*/, const DeliveryReport& report) { lone_report = report; };
  }
  auto attempt = [&]() -> asio::awaitable<boost::system::result<std::size_t>> {
    std::vector<std::size_t> sending = pending;
    // Every send of the attempt is awaited before it returns, so `sending` and `lone_report`
    // outlive their completions.
    auto sent = co_await kafka::send_all(
        producer_, sending.size(), [&](std::size_t i) { return messages[sending[i]]; },
        sending.size(), on_delivered);
    pending.clear();
    for (std::size_t i = 0; i < sending.size(); ++i) {
      const std::size_t index = sending[i];
      if (sent.delivered[i]) {
        dead_letters_.Add({{"reason", letters[index].reason}}).Increment();
      } else {
        pending.push_back(index);
      }
    }
    if (!pending.empty()) co_return sent.first_error;
    co_return letters.size();
  };
  // Whatever the cause (the broker gone, the topic refusing a record), the caller cannot move
  // on past these records: hold the gate until every dead letter is accepted or given up.
  const async::RetryHooks<boost::system::error_code> hooks{
      .failed =
          [&](const boost::system::error_code& ec, int attempt_number,
              std::chrono::milliseconds retry_in) {
            logger_.warn("dead_letter_failed", {{"error", ec.message()},
                                                {"dead_letters", pending.size()},
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
    const Message& first = *letters[pending.front()].original;
    logger_.error("dead_letter_given_up",
                  {{"reasons", count_by_reason(letters, pending)},
                   {"dead_letters", pending.size()},
                   {"of", letters.size()},
                   {"error", sent.error().error.message()},
                   {"outcome", std::string(async::to_string(sent.error().outcome))},
                   {"attempts", sent.error().attempts},
                   {"partition", first.partition()},
                   {"offset", first.offset()},
                   {"action", letters.size() == 1 ? "leaving the record unacknowledged"
                                                  : "leaving the records unacknowledged"}});
    co_return sent.error().outcome;
  }
  if (letters.size() == 1) {
    const DeadLetter& letter = letters.front();
    logger_.warn("dead_lettered", {{"reason", letter.reason},
                                   {"error", letter.error},
                                   {"partition", letter.original->partition()},
                                   {"offset", letter.original->offset()},
                                   {"dlq_partition", lone_report.partition},
                                   {"dlq_offset", lone_report.offset}});
  } else {
    // One line for the batch: a flood of bad records must not become a flood of log lines.
    // The dead-letter records themselves carry each one's origin and error.
    std::vector<std::size_t> all(letters.size());
    std::iota(all.begin(), all.end(), std::size_t{0});
    const Message& first = *letters.front().original;
    const Message& last = *letters.back().original;
    logger_.warn("dead_lettered", {{"reasons", count_by_reason(letters, all)},
                                   {"dead_letters", letters.size()},
                                   {"error", letters.front().error},
                                   {"partition", first.partition()},
                                   {"offset", first.offset()},
                                   {"last_partition", last.partition()},
                                   {"last_offset", last.offset()}});
  }
  co_return async::Outcome::done;
}

}  // namespace tracker::kafka
