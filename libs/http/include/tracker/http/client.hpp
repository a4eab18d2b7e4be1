#pragma once
// An HTTP/1.1 client for one origin (scheme, host, port), over plain TCP or TLS (OpenSSL through
// Beast), with a pool of kept-alive connections:
//   - at most max_connections connections, so at most that many requests in flight; a request
//     that finds them all busy waits for one, within its own deadline;
//   - an idle connection is reused (most recently used first) and closed once it has been idle
//     for idle_timeout, before the server is likely to close it;
//   - every request has one deadline covering connect, TLS handshake, write and read;
//   - TLS verifies the peer against the system's CAs (or ca_file) and the host name, with SNI.
// A request that fails on a reused connection before any byte of a response arrived (the server
// closed an idle connection as we wrote) is sent once more on a new connection: that is the one
// case where the server cannot have acted on it. Every other failure is returned to the caller,
// whose retry policy decides.
//
//   Client client(executor, {.base_url = "https://slack.com/api"});
//   auto reply = co_await client.send(beast_http::verb::post, "/chat.postMessage", body,
//                                     {{"Content-Type", "application/json; charset=utf-8"}});
//
// Threads: a Client is used from one executor (a strand or a single-threaded io_context), the
// one it was given.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <tracker/http/responses.hpp>

namespace tracker::http {

namespace asio = boost::asio;

// "http://127.0.0.1:8080/api" or "https://slack.com/api": scheme, host, port, path prefix.
struct Origin {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string base_path;  // without a trailing '/', possibly empty

  // Throws std::invalid_argument naming what is wrong (scheme, host, port, query...).
  static Origin parse(std::string_view url);
  [[nodiscard]] std::string to_string() const;
};

struct ClientOptions {
  std::string base_url;
  std::size_t max_connections = 16;
  std::chrono::milliseconds connect_timeout{5'000};
  // connect + handshake + write + read of one request, including the wait for a connection.
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{50'000};
  std::uint64_t body_limit = 8 * 1024 * 1024;
  // PEM file of CAs to trust instead of the system's (a test's own CA); empty: system CAs.
  std::string ca_file;
  std::string user_agent = "study-tracker/0.1";
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Why a request got no response.
// Only timeout, io_failed, bad_response and aborted happen once the request may have reached the
// server.
enum class ClientError {
  timeout = 1,     // the deadline passed while sending the request or awaiting its answer
  resolve_failed,  // the host name did not resolve (in time)
  connect_failed,  // refused, unreachable, or not connected in time
  tls_failed,      // handshake or certificate verification failed (or took too long)
  io_failed,       // reset or closed while writing or reading
  bad_response,    // not HTTP, or over body_limit
  shut_down,       // the client was shut down: nothing was sent
  aborted,         // cut off in flight by abort(): it may have reached the server
  no_connection,   // all max_connections stayed busy until the deadline: nothing was sent
};
std::string_view to_string(ClientError error) noexcept;

// A request that got no response: the kind, for retry decisions and metrics labels, and the
// underlying error, for logs ("Connection refused", "certificate verify failed").
struct Failure {
  ClientError kind = ClientError::io_failed;
  boost::system::error_code cause;
  [[nodiscard]] std::string describe() const;
};
// For boost::system::result<T, Failure>::value(): throws std::runtime_error(describe()).
[[noreturn]] void throw_exception_from_error(const Failure& failure,
                                             const boost::source_location& location);

class Client {
 public:
  Client(asio::any_io_executor executor, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `method` base_path + `target` with `body` and `headers` (Host, User-Agent and
  // Content-Length are set here) and returns the response, whatever its status. `timeout`
  // replaces request_timeout for this request.
  asio::awaitable<boost::system::result<Response, Failure>> send(
      beast_http::verb method, std::string target, std::string body, Headers headers,
      std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // Closes idle connections; requests in flight fail with shut_down or finish, and new ones
  // fail with shut_down.
  void shutdown();
  // shutdown(), and the requests in flight end now, failing with aborted (or shut_down when
  // nothing had been sent yet): for a process whose shutdown grace is over.
  void abort();

  [[nodiscard]] const Origin& origin() const noexcept;
  [[nodiscard]] std::size_t open_connections() const noexcept;
  [[nodiscard]] std::size_t in_flight() const noexcept;
  [[nodiscard]] std::uint64_t connections_opened() const noexcept;

  struct State;  // defined in client.cpp

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tracker::http
