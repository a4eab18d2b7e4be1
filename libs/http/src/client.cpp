#include <tracker/http/client.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <tracker/async/deadline.hpp>
#include <tracker/async/event.hpp>

namespace tracker::http {

namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------------- Origin

Origin Origin::parse(std::string_view url) {
  const auto fail = [&](const std::string& why) -> Origin {
    throw std::invalid_argument("URL '" + std::string(url) + "': " + why);
  };
  Origin origin;
  std::string_view rest;
  if (url.starts_with("https://")) {
    origin.tls = true;
    origin.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    origin.port = 80;
    rest = url.substr(7);
  } else {
    return fail("the scheme must be http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail("a base URL has no query or fragment");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return fail("credentials do not belong in the URL");
  }
  std::string_view port_text;
  bool port_given = false;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated IPv6 address");
    origin.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 address");
      port_text = after.substr(1);
      port_given = true;
    }
  } else {
    const auto colon = authority.rfind(':');
    origin.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      port_given = true;
    }
  }
  if (origin.host.empty()) return fail("no host");
  if (port_given) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return fail("the port must be a number from 1 to 65535");
    }
    origin.port = static_cast<std::uint16_t>(value);
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  origin.base_path = std::string(path);
  return origin;
}

std::string Origin::to_string() const {
  const bool default_port = port == (tls ? 443 : 80);
  const bool v6 = host.find(':') != std::string::npos;
  std::string text = tls ? "https://" : "http://";
  text += v6 ? "[" + host + "]" : host;
  if (!default_port) text += ":" + std::to_string(port);
  return text + base_path;
}

// --------------------------------------------------------------------------------- Failure

std::string_view to_string(ClientError error) noexcept {
  switch (error) {
    case ClientError::timeout: return "timeout";
    case ClientError::resolve_failed: return "resolve_failed";
    case ClientError::connect_failed: return "connect_failed";
    case ClientError::tls_failed: return "tls_failed";
    case ClientError::io_failed: return "io_failed";
    case ClientError::bad_response: return "bad_response";
    case ClientError::shut_down: return "shut_down";
    case ClientError::aborted: return "aborted";
    case ClientError::no_connection: return "no_connection";
  }
  return "unknown";
}

std::string Failure::describe() const {
  std::string text(to_string(kind));
  if (cause) text += ": " + cause.message();
  return text;
}

void throw_exception_from_error(const Failure& failure, const boost::source_location&) {
  throw std::runtime_error("HTTP request failed: " + failure.describe());
}

namespace {

Failure failure_of(ClientError kind, error_code cause = {}) {
  return {kind, cause};
}

// Errors of an exchange on an open connection.
Failure io_failure(const error_code& ec) {
  if (ec == beast::error::timeout) return failure_of(ClientError::timeout, ec);
  if (ec.category() == make_error_code(beast::http::error::end_of_stream).category() &&
      ec != beast::http::error::end_of_stream && ec != beast::http::error::partial_message) {
    return failure_of(ClientError::bad_response, ec);
  }
  return failure_of(ClientError::io_failed, ec);
}

}  // namespace

// ------------------------------------------------------------------------------ Connection

namespace {

struct Connection {
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // However it goes (discarded, an exception, a coroutine frame destroyed), a connection in use
  // leaves the client's set of those.
  ~Connection() {
    if (busy_set != nullptr) busy_set->erase(this);
  }
  void mark_busy(std::set<Connection*>& set) {
    busy_set = &set;
    set.insert(this);
  }
  void mark_idle() {
    if (busy_set != nullptr) busy_set->erase(this);
    busy_set = nullptr;
  }

  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  Clock::time_point idle_since{};
  std::set<Connection*>* busy_set = nullptr;  // the client's, while a request uses this

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

// One request and its response on `stream`. bytes_read tells a dead kept-alive connection
// (nothing at all came back) from a response cut short.
struct Exchange {
  error_code ec;
  bool wrote = false;
  std::size_t bytes_read = 0;
  std::optional<Response> response;
};

template <typename Stream>
asio::awaitable<Exchange> exchange(Stream& stream, beast::flat_buffer& buffer, Request& request,
                                   std::uint64_t body_limit) {
  Exchange out;
  auto [write_ec, written] = co_await beast::http::async_write(stream, request, as_tuple_awaitable);
  (void)written;
  if (write_ec) {
    out.ec = write_ec;
    co_return out;
  }
  out.wrote = true;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(body_limit);
  auto [read_ec, read] =
      co_await beast::http::async_read(stream, buffer, parser, as_tuple_awaitable);
  out.bytes_read = read;
  if (read_ec) {
    out.ec = read_ec;
    co_return out;
  }
  out.response.emplace(parser.release());
  co_return out;
}

}  // namespace

struct Client::State {
  State(asio::any_io_executor executor_in, ClientOptions options_in)
      : executor(std::move(executor_in)),
        options(std::move(options_in)),
        origin(Origin::parse(options.base_url)) {
    if (options.max_connections == 0) throw std::invalid_argument("max_connections must be > 0");
    if (origin.tls) {
      tls.emplace(ssl::context::tls_client);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      if (options.ca_file.empty()) {
        tls->set_default_verify_paths();
      } else {
        tls->load_verify_file(options.ca_file);
      }
      tls->set_verify_mode(ssl::verify_peer);
    }
    host_header = origin.to_string();
    host_header = host_header.substr(host_header.find("//") + 2);
    host_header.resize(host_header.size() - origin.base_path.size());
  }

  std::unique_ptr<Connection> take_idle() {
    const auto now = Clock::now();
    // The oldest are at the front; those idle too long are closed rather than reused.
    while (!idle.empty() && now - idle.front()->idle_since >= options.idle_timeout) {
      idle.erase(idle.begin());
      --open;
    }
    if (idle.empty()) return nullptr;
    auto connection = std::move(idle.back());
    idle.pop_back();
    connection->mark_busy(busy);
    return connection;
  }

  void discard(std::unique_ptr<Connection> connection) {
    if (!connection) return;
    connection->mark_idle();
    error_code ignored;
    connection->tcp().socket().close(ignored);
    --open;
  }

  void keep(std::unique_ptr<Connection> connection) {
    connection->mark_idle();
    connection->tcp().expires_never();
    connection->idle_since = Clock::now();
    idle.push_back(std::move(connection));
  }

  asio::awaitable<boost::system::result<std::unique_ptr<Connection>, Failure>> connect(
      Clock::time_point deadline) {
    tcp::resolver resolver(executor);
    auto resolved = co_await async::with_timeout(
        resolver.async_resolve(origin.host, std::to_string(origin.port), as_tuple_awaitable),
        std::max(Clock::duration::zero(), deadline - Clock::now()));
    if (!resolved) co_return failure_of(ClientError::resolve_failed, asio::error::timed_out);
    auto [resolve_ec, endpoints] = std::move(*resolved);
    if (resolve_ec) co_return failure_of(ClientError::resolve_failed, resolve_ec);
    if (aborted) co_return failure_of(ClientError::shut_down);  // abort() came while resolving

    auto connection = std::make_unique<Connection>();
    ++open;
    ++opened;
    if (tls) {
      connection->secure.emplace(executor, *tls);
    } else {
      connection->plain.emplace(executor);
    }
    connection->mark_busy(busy);
    connection->tcp().expires_at(std::min(deadline, Clock::now() + options.connect_timeout));
    auto [connect_ec, endpoint] =
        co_await connection->tcp().async_connect(endpoints, as_tuple_awaitable);
    (void)endpoint;
    if (connect_ec) {
      discard(std::move(connection));
      co_return failure_of(ClientError::connect_failed, connect_ec);
    }
    error_code option_ec;
    connection->tcp().socket().set_option(tcp::no_delay(true), option_ec);  // best effort
    if (tls) {
      auto& stream = *connection->secure;
      error_code parse_ec;
      asio::ip::make_address(origin.host, parse_ec);
      // SNI names a host, never an address (RFC 6066).
      // (SSL_set_tlsext_host_name, without the macro's C cast.)
      if (parse_ec &&
          SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(origin.host.c_str())) != 1) {
        discard(std::move(connection));
        co_return failure_of(
            ClientError::tls_failed,
            error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
      }
      stream.set_verify_callback(ssl::host_name_verification(origin.host));
      connection->tcp().expires_at(deadline);
      auto [handshake_ec] =
          co_await stream.async_handshake(ssl::stream_base::client, as_tuple_awaitable);
      if (handshake_ec) {
        discard(std::move(connection));
        co_return failure_of(
            handshake_ec == beast::error::timeout ? ClientError::timeout : ClientError::tls_failed,
            handshake_ec);
      }
    }
    co_return connection;
  }

  asio::any_io_executor executor;
  ClientOptions options;
  Origin origin;
  std::string host_header;
  std::optional<ssl::context> tls;
  std::vector<std::unique_ptr<Connection>> idle;  // most recently used at the back
  std::set<Connection*> busy;  // connecting or carrying a request; owned by that request
  std::size_t open = 0;
  std::size_t in_flight = 0;
  std::uint64_t opened = 0;
  bool shut = false;
  bool aborted = false;     // abort(): requests in flight were cut off
  async::Event slot_freed;  // notified whenever a request ends, to wake waiters
};

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : state_(std::make_shared<State>(std::move(executor), std::move(options))) {}

Client::~Client() {
  shutdown();
}

void Client::shutdown() {
  state_->shut = true;
  while (!state_->idle.empty()) {
    state_->discard(std::move(state_->idle.back()));
    state_->idle.pop_back();
  }
  state_->slot_freed.notify_all();
}

void Client::abort() {
  shutdown();
  state_->aborted = true;
  // Closing the stream ends its pending operations with operation_aborted; the request that owns
  // the connection then discards it and reports shut_down.
  for (Connection* connection : state_->busy) connection->tcp().close();
}

const Origin& Client::origin() const noexcept {
  return state_->origin;
}
std::size_t Client::open_connections() const noexcept {
  return state_->open;
}
std::size_t Client::in_flight() const noexcept {
  return state_->in_flight;
}
std::uint64_t Client::connections_opened() const noexcept {
  return state_->opened;
}

asio::awaitable<boost::system::result<Response, Failure>> Client::send(
    beast_http::verb method, std::string target, std::string body, Headers headers,
    std::optional<std::chrono::milliseconds> timeout) {
  const std::shared_ptr<State> state = state_;  // outlives the Client while this runs
  const auto deadline = Clock::now() + timeout.value_or(state->options.request_timeout);
  if (state->shut) co_return failure_of(ClientError::shut_down);

  while (state->in_flight >= state->options.max_connections) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return failure_of(ClientError::no_connection);
    co_await state->slot_freed.wait_for(left);
    if (state->shut) co_return failure_of(ClientError::shut_down);
  }
  ++state->in_flight;
  struct SlotRelease {
    State& state;
    ~SlotRelease() {
      --state.in_flight;
      state.slot_freed.notify_all();
    }
  } release{*state};

  Request request(method, state->origin.base_path + target, 11);
  request.set(beast_http::field::host, state->host_header);
  request.set(beast_http::field::user_agent, state->options.user_agent);
  for (auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  request.keep_alive(true);
  request.prepare_payload();

  for (int round = 0;; ++round) {
    // Nothing has been sent yet (or the server closed the connection unread): past the deadline
    // the request never left.
    if (Clock::now() >= deadline) co_return failure_of(ClientError::no_connection);
    std::unique_ptr<Connection> connection = state->take_idle();
    const bool reused = connection != nullptr;
    if (!connection) {
      auto connected = co_await state->connect(deadline);
      if (!connected) {
        if (state->aborted) co_return failure_of(ClientError::shut_down, connected.error().cause);
        co_return connected.error();
      }
      connection = std::move(*connected);
    }
    connection->tcp().expires_at(deadline);
    Exchange done;
    if (connection->secure) {
      done = co_await exchange(*connection->secure, connection->buffer, request,
                               state->options.body_limit);
    } else {
      done = co_await exchange(*connection->plain, connection->buffer, request,
                               state->options.body_limit);
    }
    if (done.ec) {
      state->discard(std::move(connection));
      const bool server_closed_idle =
          reused && done.bytes_read == 0 && done.ec != beast::error::timeout &&
          (!done.wrote || done.ec == beast_http::error::end_of_stream ||
           done.ec == asio::error::connection_reset || done.ec == asio::error::eof);
      if (server_closed_idle && round == 0 && !state->shut) continue;
      if (state->aborted) {
        co_return failure_of(done.wrote ? ClientError::aborted : ClientError::shut_down, done.ec);
      }
      co_return io_failure(done.ec);
    }
    if (done.response->keep_alive() && !state->shut) {
      state->keep(std::move(connection));
    } else {
      state->discard(std::move(connection));
    }
    co_return std::move(*done.response);
  }
}

}  // namespace tracker::http
