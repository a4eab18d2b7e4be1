#pragma once
// Hands a blocking call (a synchronous librdkafka commit or close, a file read) to a bounded
// thread pool so that it never runs on an io_context thread. The awaiting coroutine resumes on
// its own executor once the call has returned; an exception thrown by the call is rethrown there.
// The call itself cannot be interrupted: cancelling the awaiting coroutine (a deadline) takes
// effect only when the call returns, so the call must bound its own duration.
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::async {

namespace asio = boost::asio;

template <typename F>
auto run_blocking(asio::thread_pool& pool, F fn) -> asio::awaitable<std::invoke_result_t<F&>> {
  using R = std::invoke_result_t<F&>;
  // Named rather than a temporary inside the co_await: GCC 12 destroys such a closure twice
  // when its captures have destructors.
  auto task = [fn = std::move(fn)]() mutable -> asio::awaitable<R> { co_return fn(); };
  co_return co_await asio::co_spawn(pool.get_executor(), std::move(task), asio::use_awaitable);
}

}  // namespace tracker::async
