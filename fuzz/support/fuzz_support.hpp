#pragma once
// What the fuzz targets share: reading the fuzzer's bytes as an HTTP message (so that seeds are
// plain requests and responses, and the HTTP dictionary helps), running a handler's coroutine to
// the end, and failing loudly when an invariant does not hold.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tracker::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// An invariant of the code under test does not hold: report it and abort, which libFuzzer
// records as a crash with the input that caused it.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant failed: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

inline void require(bool condition, const char* what, std::string_view detail = {}) {
  if (!condition) fail(what, detail);
}

// Parses `text` as one whole HTTP message of type `Parser` (request or response), the way
// Beast's reader does, with limits like the server's; std::nullopt when it is not one.
template <typename Message, bool isRequest>
std::optional<Message> parse_message(std::string_view text) {
  boost::beast::http::parser<isRequest, boost::beast::http::string_body> parser;
  parser.eager(true);
  parser.header_limit(16 * 1024);
  parser.body_limit(1024 * 1024);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(text.data(), text.size()), ec);
  if (ec == boost::beast::http::error::need_more && parser.is_header_done()) {
    ec = {};
    parser.put_eof(ec);  // a body that ends with the input
  }
  if (ec || !parser.is_done() || used == 0) return std::nullopt;
  return parser.release();
}

// Runs `coroutine` on `io` until it completes and returns its value, then stops `io` (a server's
// accept loop stays pending for the next input); an exception that escapes the coroutine is a
// failure of the target (the handlers report errors as responses, never by throwing).
template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> coroutine) {
  std::optional<T> value;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value.emplace(std::move(v));
    io.stop();
  });
  io.restart();
  io.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      fail("exception escaped the coroutine:", e.what());
    }
  }
  require(value.has_value(), "the coroutine did not complete");
  return std::move(*value);
}

}  // namespace tracker::fuzz
