#pragma once
// Many messages through one producer with a bounded number awaiting acknowledgement at once:
// for tools and tests that load a topic (a benchmark's input, a replay), where awaiting each
// acknowledgement before the next send would cost a broker round trip per message.
#include <cstddef>
#include <functional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/kafka/producer.hpp>

namespace tracker::kafka {

struct SendAllResult {
  std::size_t acknowledged = 0;
  std::size_t failed = 0;
  boost::system::error_code first_error;
  std::vector<bool> delivered;  // per message, in order: acknowledged by the broker
};

// Sends message_at(0) .. message_at(count - 1), in that order, with at most `window` (at least
// 1) unacknowledged at a time, and completes once every one was acknowledged or failed. A
// message refused with queue_full is not retried: it counts as failed, like any other.
// `message_at` is taken by value: the coroutine may start after the caller's temporaries (a
// lambda converted to std::function) are gone. An exception from `message_at` ends the sending;
// it is rethrown once the messages already sent have completed. The caller must not destroy the
// coroutine (stop its io_context) while it runs: the completions refer to its frame.
// `on_delivered`, when given, is called with a message's index and where the broker put it, on
// the caller's executor, for each acknowledged message.
boost::asio::awaitable<SendAllResult> send_all(
    Producer& producer, std::size_t count, std::function<OutgoingMessage(std::size_t)> message_at,
    std::size_t window, std::function<void(std::size_t, const DeliveryReport&)> on_delivered = {});

}  // namespace tracker::kafka
