#pragma once
// Blocking helpers for the tests and benchmarks that start services and read their ops endpoints
// (/metrics, /readyz). Not for an io_context thread: each call runs its own.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker::testkit {

struct GetResult {
  unsigned status = 0;  // 0: nothing answered (refused, reset, or past the timeout)
  std::string body;
};

// GET http://address:port/target over HTTP/1.1, bounded by `timeout` in all.
GetResult blocking_get(const std::string& address, std::uint16_t port, std::string_view target,
                       std::chrono::milliseconds timeout = std::chrono::seconds{5});

struct HttpResult {
  unsigned status = 0;                                       // 0: nothing answered
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The first value of header `name` (lower case), or empty.
  [[nodiscard]] std::string header(std::string_view name) const;
};

// `method` target over HTTP/1.1 with `headers` and `body`, bounded by `timeout` in all; the
// response's headers are kept (a redirect's Location, a Set-Cookie).
HttpResult blocking_request(const std::string& address, std::uint16_t port, std::string_view method,
                            std::string_view target,
                            const std::vector<std::pair<std::string, std::string>>& headers = {},
                            std::string body = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds{5});

// A TCP port on 127.0.0.1 that was free a moment ago, for a service a tool or test starts.
std::uint16_t free_loopback_port();

}  // namespace tracker::testkit
