#include <tracker/kafka/send_all.hpp>

#include <algorithm>
#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::kafka {

namespace asio = boost::asio;

asio::awaitable<SendAllResult> send_all(Producer& producer, std::size_t count,
                                        std::function<OutgoingMessage(std::size_t)> message_at,
                                        std::size_t window) {
  window = std::max<std::size_t>(window, 1);
  auto executor = co_await asio::this_coro::executor;
  SendAllResult result;
  result.delivered.assign(count, false);
  std::size_t in_flight = 0;
  // Cancelled by each completion (run on this coroutine's executor, so the counters need no
  // lock) to wake the loop below.
  asio::steady_timer completed(executor);
  auto wait_below = [&](std::size_t limit) -> asio::awaitable<void> {
    while (in_flight > limit) {
      completed.expires_at(asio::steady_timer::time_point::max());
      co_await completed.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  };
  for (std::size_t i = 0; i < count; ++i) {
    co_await wait_below(window - 1);
    OutgoingMessage message;
    std::exception_ptr failure;
    try {
      message = message_at(i);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // The completions of the sends in flight refer to this frame: let them finish first.
      co_await wait_below(0);
      std::rethrow_exception(failure);
    }
    ++in_flight;
    producer.async_send(std::move(message),
                        asio::bind_executor(executor, [&, i](boost::system::error_code ec,
                                                             const DeliveryReport& /*report*/) {
                          --in_flight;
                          if (ec) {
                            if (result.failed++ == 0) result.first_error = ec;
                          } else {
                            ++result.acknowledged;
                            result.delivered[i] = true;
                          }
                          completed.cancel();
                        }));
  }
  co_await wait_below(0);
  co_return result;
}

}  // namespace tracker::kafka
