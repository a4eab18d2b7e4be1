#include <tracker/kafka/send_all.hpp>

#include <algorithm>
#include <exception>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/this_coro.hpp>

#include <tracker/async/event.hpp>

namespace tracker::kafka {

namespace asio = boost::asio;

asio::awaitable<SendAllResult> send_all(
    Producer& producer, std::size_t count, std::function<OutgoingMessage(std::size_t)> message_at,
    std::size_t window, std::function<void(std::size_t, const DeliveryReport&)> on_delivered) {
  window = std::max<std::size_t>(window, 1);
  auto executor = co_await asio::this_coro::executor;
  SendAllResult result;
  result.delivered.assign(count, false);
  // Counts the sends awaiting the broker; each completion (run on this coroutine's executor, so
  // the count needs no lock) wakes the waits below.
  async::WaitGroup in_flight;
  for (std::size_t i = 0; i < count; ++i) {
    co_await in_flight.wait(window - 1);
    OutgoingMessage message;
    std::exception_ptr failure;
    try {
      message = message_at(i);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // The completions of the sends in flight refer to this frame: let them finish first.
      co_await in_flight.wait();
      std::rethrow_exception(failure);
    }
    in_flight.add();
    producer.async_send(std::move(message),
                        asio::bind_executor(executor, [&, i](boost::system::error_code ec,
                                                             const DeliveryReport& report) {
                          if (ec) {
                            if (result.failed++ == 0) result.first_error = ec;
                          } else {
                            ++result.acknowledged;
                            result.delivered[i] = true;
                            if (on_delivered) on_delivered(i, report);
                          }
                          in_flight.done();
                        }));
  }
  co_await in_flight.wait();
  co_return result;
}

}  // namespace tracker::kafka
