#pragma once
// Deadlines for awaitable operations. Boost 1.81 has no cancel_after (added in 1.86), so an
// operation races a steady_timer with the awaitable `||` operator: whichever finishes first wins
// and the other is cancelled through its cancellation slot. An operation that ignores
// cancellation keeps the race waiting, so everything passed here must honour it (Asio's own
// operations and this project's Kafka/PostgreSQL operations do).
#include <chrono>
#include <optional>
#include <utility>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::async {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Returns the operation's value, or std::nullopt when `timeout` elapsed first.
template <typename T>
asio::awaitable<std::optional<T>> with_timeout(asio::awaitable<T> op, Clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto winner = co_await (std::move(op) || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (winner.index() == 0) {
    co_return std::optional<T>(std::get<0>(std::move(winner)));
  }
  co_return std::nullopt;
}

// For operations without a value: true when the operation finished before `timeout`.
inline asio::awaitable<bool> with_timeout(asio::awaitable<void> op, Clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto winner = co_await (std::move(op) || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  co_return winner.index() == 0;
}

}  // namespace tracker::async
