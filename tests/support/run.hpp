#pragma once
// Runs a coroutine to completion on `io`, with a bound on how long that may take, and returns
// its value (rethrowing its exception). Stops `io` as soon as the coroutine is done, so servers
// or other work still pending on it (an accept loop) do not keep the test waiting.
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace tracker::testing {

namespace asio = boost::asio;

template <typename T>
T run(asio::io_context& io, asio::awaitable<T> coroutine,
      std::chrono::seconds limit = std::chrono::seconds{60}) {
  std::optional<T> value;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value.emplace(std::move(v));
    io.stop();
  });
  io.restart();
  io.run_for(limit);
  if (error) std::rethrow_exception(error);
  if (!value) throw std::runtime_error("coroutine did not finish within the test's time limit");
  return std::move(*value);
}

inline void run(asio::io_context& io, asio::awaitable<void> coroutine,
                std::chrono::seconds limit = std::chrono::seconds{60}) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e) {
    error = e;
    done = true;
    io.stop();
  });
  io.restart();
  io.run_for(limit);
  if (error) std::rethrow_exception(error);
  if (!done) throw std::runtime_error("coroutine did not finish within the test's time limit");
}

// A name no other test run uses: prefix + pid + counter + random suffix.
std::string unique_name(const std::string& prefix);

}  // namespace tracker::testing
