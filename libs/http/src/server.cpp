#include <tracker/http/server.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <tracker/metrics/declare.hpp>

namespace tracker::http {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Where a connection is, for choosing one to evict (read from the acceptor's strand).
enum class Phase { idle, reading, answering, evicted };

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  std::atomic<Phase> phase{Phase::idle};
  std::atomic<Clock::rep> since{Clock::now().time_since_epoch().count()};  // phase began

  // Moves to `next` unless the connection was chosen for eviction (then false).
  bool enter(Phase next) {
    Phase current = phase.load();
    do {
      if (current == Phase::evicted) return false;
    } while (!phase.compare_exchange_weak(current, next));
    since.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    return true;
  }
};

// The descriptor kept in reserve for answering when none is left (-1 if none could be had).
int open_reserve_descriptor() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system;
}

// The answer to a connection over the limit, as bytes: it is also written synchronously when
// the process is out of descriptors.
const std::string& too_many_connections_bytes() {
  static const std::string bytes = [] {
    auto response = error_response(beast_http::status::service_unavailable, "too_many_connections",
                                   "connection limit reached, try again");
    response.set(beast_http::field::retry_after, "1");
    response.keep_alive(false);
    std::ostringstream out;
    out << response;
    return out.str();
  }();
  return bytes;
}

// A request whose framing this server will not guess at; the answer to give, if any.
std::optional<Response> framing_problem(const Request& request) {
  const auto hosts = request.count(beast_http::field::host);
  if (request.version() >= 11 && hosts == 0) {
    return error_response(beast_http::status::bad_request, "bad_request",
                          "an HTTP/1.1 request needs a Host header", request.version());
  }
  if (hosts > 1) {
    return error_response(beast_http::status::bad_request, "bad_request",
                          "a request has one Host header, not " + std::to_string(hosts),
                          request.version());
  }
  if (auto coding = request.find(beast_http::field::transfer_encoding); coding != request.end()) {
    std::string value(coding->value());
    std::erase_if(value, [](char c) { return c == ' ' || c == '\t'; });
    for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (value != "chunked") {
      return error_response(beast_http::status::not_implemented, "unsupported_transfer_coding",
                            "only the chunked transfer coding is accepted, not '" +
                                std::string(coding->value()) + "'",
                            request.version());
    }
  }
  return std::nullopt;
}

std::size_t field_count(const Request& request) {
  return static_cast<std::size_t>(std::distance(request.begin(), request.end()));
}

// A response to HEAD: the headers of the response to GET, Content-Length included, and no body.
void fit_to_method(Response& response, beast_http::verb method) {
  if (method != beast_http::verb::head) return;
  const std::size_t length = response.body().size();
  response.body().clear();
  response.content_length(length);
}

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
  return buckets;
}

}  // namespace

// Shared by the accept loops, every connection coroutine and the Server object. Each acceptor
// lives on its own strand or loop; `connections` is guarded by `mutex`, the reserve descriptor
// by `reserve_mutex`; counters are atomics.
struct Server::State {
  State(asio::any_io_executor ex, std::vector<asio::any_io_executor> event_loops,
        ServerOptions opts, Handler h, prometheus::Registry& registry, log::Logger& log)
      : executor(ex),
        loops(std::move(event_loops)),
        options(std::move(opts)),
        handler(std::move(h)),
        logger(log),
        requests(metrics::counters(registry, options.metric_prefix + "_requests_total",
                                   "HTTP requests answered, by route and status.")),
        durations(metrics::histograms(registry, options.metric_prefix + "_request_duration_seconds",
                                      "Time from a complete request to its response being ready.")),
        rejected(metrics::counters(registry, options.metric_prefix + "_rejected_requests_total",
                                   "Requests refused before reaching a handler, by reason.")),
        open_gauge(metrics::gauge(registry, options.metric_prefix + "_open_connections",
                                  "Open client connections.")),
        in_flight_gauge(metrics::gauge(registry, options.metric_prefix + "_requests_in_flight",
                                       "Requests being handled.")),
        refused(
            metrics::counter(registry, options.metric_prefix + "_connections_refused_total",
                             "Connections refused with 503 because max_connections were open, or "
                             "the process was out of file descriptors.")),
        evicted(metrics::counter(registry, options.metric_prefix + "_connections_evicted_total",
                                 "Idle connections closed to make room for a new one at "
                                 "max_connections (probe ports).")) {
    if (!options.route_label) options.route_label = [](std::string_view) { return "all"; };
  }

  asio::any_io_executor executor;
  // Single-threaded event loops, each accepting and serving its own connections; empty: each
  // connection has a strand of `executor`.
  std::vector<asio::any_io_executor> loops;
  // One per loop (sharing the port with SO_REUSEPORT), or one on a strand of `executor`, made by
  // start(). Each is owned by its accept loop's coroutine, so that it goes with its event loop
  // if the loop's io_context is destroyed first.
  std::vector<std::weak_ptr<tcp::acceptor>> acceptors;
  ServerOptions options;
  Handler handler;
  log::Logger& logger;

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& durations;
  prometheus::Family<prometheus::Counter>& rejected;
  prometheus::Gauge& open_gauge;
  prometheus::Gauge& in_flight_gauge;
  prometheus::Counter& refused;
  prometheus::Counter& evicted;

  // A descriptor held in reserve: given up to accept (and refuse) a connection when the process
  // has no other. Guarded by reserve_mutex (the acceptors of several loops share it).
  std::mutex reserve_mutex;
  int reserve_fd = -1;
  Clock::time_point last_descriptor_warning{};

  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  // Weak: a connection lives as long as its coroutine, so that it goes with its event loop if the
  // loop's io_context is destroyed first (its socket must not outlive the loop's services).
  std::set<std::weak_ptr<Connection>, std::owner_less<>> connections;

  ~State() {
    if (reserve_fd >= 0) ::close(reserve_fd);
  }

  void reject(const char* reason) { rejected.Add({{"reason", reason}}).Increment(); }

  // Where a connection taken by `acceptor` runs: a strand of its own, or the acceptor's loop.
  asio::any_io_executor connection_executor(tcp::acceptor& acceptor) {
    return loops.empty() ? asio::make_strand(executor) : acceptor.get_executor();
  }

  // Closes the connection that has waited longest without a request (else the one that has
  // been reading its request longest) to make room for a new one. False when every connection
  // is being answered.
  bool evict_one() {
    std::shared_ptr<Connection> chosen;
    Phase chosen_phase = Phase::answering;
    Clock::rep chosen_since = 0;
    {
      std::lock_guard lock(mutex);
      for (const auto& weak : connections) {
        auto connection = weak.lock();
        if (!connection) continue;
        const Phase phase = connection->phase.load(std::memory_order_relaxed);
        if (phase != Phase::idle && phase != Phase::reading) continue;
        const Clock::rep since = connection->since.load(std::memory_order_relaxed);
        const bool better = !chosen || (phase == Phase::idle && chosen_phase == Phase::reading) ||
                            (phase == chosen_phase && since < chosen_since);
        if (better) {
          chosen = connection;
          chosen_phase = phase;
          chosen_since = since;
        }
      }
      // It may have moved on since it was looked at: then it stays, and the new one is refused.
      if (!chosen || !chosen->phase.compare_exchange_strong(chosen_phase, Phase::evicted)) {
        return false;
      }
    }
    evicted.Increment();
    asio::post(chosen->stream.get_executor(), [chosen] { chosen->stream.cancel(); });
    return true;
  }

  // Runs `action` on each connection's strand.
  template <typename Action>
  std::size_t for_each_connection(Action action) {
    std::lock_guard lock(mutex);
    std::size_t count = 0;
    for (const auto& weak : connections) {
      if (auto connection = weak.lock()) {
        asio::post(connection->stream.get_executor(),
                   [connection, action] { action(*connection); });
        ++count;
      }
    }
    return count;
  }
};

namespace {

using State = Server::State;

// Closes every acceptor on its own executor.
void close_acceptors(const std::shared_ptr<State>& state) {
  for (const auto& weak : state->acceptors) {
    if (auto acceptor = weak.lock()) {
      asio::post(acceptor->get_executor(), [acceptor] {
        beast::error_code ignored;
        acceptor->close(ignored);
      });
    }
  }
}

// SO_REUSEPORT, which Asio has no name for: the loops' acceptors share one port, and the kernel
// spreads new connections over them.
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// What a refused client may still send after its answer that is read and dropped (a lingering
// close), and for how long at most.
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2'000};

// A lingering close: shuts the write side after an answer, then reads and drops what the client
// is still sending until it stops, for at most `time` and `bytes`. Closing at once with unread
// data would reset the connection, and the client could lose the answer before reading it.
asio::awaitable<void> linger(beast::tcp_stream& stream, std::chrono::milliseconds time,
                             std::size_t bytes) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(time);
  std::array<char, 16 * 1024> discard{};
  for (std::size_t drained = 0; drained < bytes;) {
    auto [ec, n] =
        co_await stream.async_read_some(asio::buffer(discard), asio::as_tuple(asio::use_awaitable));
    if (ec) break;  // the client closed, or the linger is over
    drained += n;
  }
}

// The server's own refusals (413, 431, 400, 501): no retry of the same request can succeed.
// The answer is followed by a lingering close, which reads the rest of a body too large to take.
asio::awaitable<void> write_and_close(beast::tcp_stream& stream, Response response,
                                      const ServerOptions& options) {
  for (const auto& [name, value] : options.refusal_headers) response.set(name, value);
  response.keep_alive(false);
  stream.expires_after(options.body_timeout);
  auto [write_ec, written] =
      co_await beast_http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
  if (write_ec) co_return;
  co_await linger(stream, std::min<std::chrono::milliseconds>(options.body_timeout, kLingerTime),
                  kLingerBytes);
}

// A refusal of a request whose method is known: counted by reason, answered as write_and_close
// does, without a body for HEAD.
asio::awaitable<void> refuse_request(State& state, beast::tcp_stream& stream, const char* reason,
                                     Response response, beast_http::verb method,
                                     const ServerOptions& options) {
  state.reject(reason);
  fit_to_method(response, method);
  co_await write_and_close(stream, std::move(response), options);
}

Response payload_too_large(std::uint64_t limit) {
  return error_response(beast_http::status::payload_too_large, "payload_too_large",
                        "request body exceeds " + std::to_string(limit) + " bytes");
}

using RequestParser = beast_http::request_parser<beast_http::string_body>;

// Bytes read from the socket at most per read.
constexpr std::size_t kReadSize = 65536;

// What a connection's read buffer may hold: the unparsed rest of a request, and one read more.
// Beast bounds the headers by header_limit and a chunked body's data by body_limit, but neither
// a chunk's size line (with its extensions) nor the trailer: without this bound a client could
// make the server hold an endless one until the body timeout. Such a request is refused.
std::size_t read_buffer_limit(const ServerOptions& options) {
  return std::size_t{options.header_limit} + kReadSize;
}

enum class Part { header, message };

// Reads a request up to the end of `part` into `parser`, the way Beast's async_read_header and
// async_read do (the same errors, the same limits), except that what `buffer` already holds is
// parsed at once: a request that arrived whole, as nearly all do, is taken without a further
// pass through the event loop, where Beast's read would post its completion once per call.
asio::awaitable<beast::error_code> read_until(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                              RequestParser& parser, Part part) {
  const auto done = [&] {
    return part == Part::header ? parser.is_header_done() : parser.is_done();
  };
  while (!done()) {
    if (buffer.size() > 0) {
      beast::error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != beast_http::error::need_more) co_return ec;
      if (!ec && used > 0) continue;
    }
    const std::size_t size = beast::read_size(buffer, kReadSize);
    if (size == 0) co_return beast_http::error::buffer_overflow;
    auto [ec, n] =
        co_await stream.async_read_some(buffer.prepare(size), asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (ec == asio::error::eof) {
      if (!parser.got_some()) co_return beast_http::error::end_of_stream;
      beast::error_code eof_ec;
      parser.put_eof(eof_ec);  // a message whose end is the end of the stream
      co_return eof_ec;
    }
    if (ec) co_return ec;
  }
  co_return beast::error_code{};
}

// Writes the response: at once while the socket takes it (a small answer always fits its send
// buffer), and the rest, if any, asynchronously. False on failure.
asio::awaitable<bool> write_response(beast::tcp_stream& stream, Response& response,
                                     const ServerOptions& options) {
  beast_http::response_serializer<beast_http::string_body> serializer(response);
  beast::error_code ec;
  beast_http::write(stream.socket(), serializer, ec);  // the socket is non-blocking (serve)
  if (!ec) co_return true;
  if (ec != asio::error::would_block && ec != asio::error::try_again) co_return false;
  stream.expires_after(options.body_timeout);
  auto [write_ec, written] =
      co_await beast_http::async_write(stream, serializer, asio::as_tuple(asio::use_awaitable));
  co_return !write_ec;
}

asio::awaitable<void> serve(std::shared_ptr<State> state, std::shared_ptr<Connection> connection) {
  auto& stream = connection->stream;
  {
    // Synchronous writes (write_response) then return would_block instead of waiting; the
    // asynchronous operations are not affected.
    beast::error_code ignored;
    stream.socket().non_blocking(true, ignored);
  }
  const auto& options = state->options;
  beast::flat_buffer buffer(read_buffer_limit(options));
  // The metrics of the connection's last route and status: looking a labelled metric up in its
  // family (a hash of the labels under the family's lock) is skipped while they stay the same.
  std::string metric_route;
  unsigned metric_status = 0;
  prometheus::Counter* requests = nullptr;
  prometheus::Histogram* durations = nullptr;
  for (;;) {
    // A connection answered as kept alive just before a shutdown began is closed here rather
    // than left waiting out its idle timeout (the shutdown's cancel found it busy).
    if (state->stopping) break;
    // Idle: wait for the first byte of the next request.
    if (buffer.size() == 0) {
      if (!connection->enter(Phase::idle)) break;
      stream.expires_after(options.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(2048),
                                                     asio::as_tuple(asio::use_awaitable));
      if (ec) break;  // closed by the client, idle too long, evicted, or shutting down
      buffer.commit(n);
    }
    if (state->stopping) break;
    if (!connection->enter(Phase::reading)) break;  // chosen for eviction as its request came

    RequestParser parser;
    parser.header_limit(options.header_limit);
    parser.body_limit(options.body_limit);
    stream.expires_after(options.header_timeout);
    const beast::error_code header_ec = co_await read_until(stream, buffer, parser, Part::header);
    if (connection->phase.load() == Phase::evicted) break;
    if (header_ec == beast_http::error::body_limit) {
      // Beast checks Content-Length against the body limit as soon as the headers are in.
      co_await refuse_request(*state, stream, "body_too_large",
                              payload_too_large(options.body_limit), parser.get().method(),
                              options);
      break;
    }
    if (header_ec) {
      if (header_ec == beast_http::error::header_limit) {
        state->reject("header_too_large");
        co_await write_and_close(
            stream,
            error_response(
                beast_http::status::request_header_fields_too_large, "headers_too_large",
                "request headers exceed " + std::to_string(options.header_limit) + " bytes"),
            options);
      } else if (header_ec == beast::error::timeout) {
        state->reject("header_timeout");
      } else if (header_ec != beast_http::error::end_of_stream && header_ec != asio::error::eof) {
        state->reject("bad_request");
        co_await write_and_close(stream,
                                 error_response(beast_http::status::bad_request, "bad_request",
                                                "malformed HTTP request: " + header_ec.message()),
                                 options);
      }
      break;
    }
    const beast_http::verb method = parser.get().method();
    if (auto problem = framing_problem(parser.get())) {
      const char* reason =
          problem->result() == beast_http::status::bad_request ? "missing_host" : "transfer_coding";
      co_await refuse_request(*state, stream, reason, std::move(*problem), method, options);
      break;
    }
    // Beast adds a chunked body's trailer fields to the request's fields (RFC 9110 6.5 keeps
    // them apart), where a handler would read a trailer "Host" or "X-Slack-Signature" as a
    // header: counted here, so that a request that has any is refused below.
    const std::size_t header_fields = parser.chunked() ? field_count(parser.get()) : 0;
    stream.expires_after(options.body_timeout);
    const beast::error_code body_ec = co_await read_until(stream, buffer, parser, Part::message);
    if (body_ec) {
      if (body_ec == beast_http::error::body_limit) {  // chunked bodies have no length up front
        co_await refuse_request(*state, stream, "body_too_large",
                                payload_too_large(options.body_limit), method, options);
      } else if (body_ec == beast_http::error::buffer_overflow) {
        co_await refuse_request(
            *state, stream, "chunk_framing_too_large",
            error_response(beast_http::status::bad_request, "chunk_framing_too_large",
                           "a chunk's size line or the trailer exceeds " +
                               std::to_string(read_buffer_limit(options)) + " bytes",
                           parser.get().version()),
            method, options);
      } else if (body_ec == beast::error::timeout) {
        state->reject("body_timeout");
      } else {
        state->reject("bad_request");
      }
      break;
    }
    if (parser.chunked()) {
      if (const std::size_t trailers = field_count(parser.get()) - header_fields; trailers > 0) {
        co_await refuse_request(
            *state, stream, "trailer_fields",
            error_response(beast_http::status::bad_request, "trailer_fields",
                           "trailer fields after a chunked body are not accepted (" +
                               std::to_string(trailers) + " given)",
                           parser.get().version()),
            method, options);
        break;
      }
    }

    Request request = parser.release();
    if (!connection->enter(Phase::answering)) break;
    const auto started = Clock::now();
    ++state->in_flight;
    state->in_flight_gauge.Increment();
    Response response;
    try {
      response = co_await state->handler(request);
    } catch (const std::exception& error) {
      state->logger.error("http_handler_failed", {{"error", error.what()}});
      response = error_response(beast_http::status::internal_server_error, "internal_error",
                                "the request could not be handled");
    }
    --state->in_flight;
    state->in_flight_gauge.Decrement();
    std::string route = options.route_label(request.target());
    if (durations == nullptr || route != metric_route) {
      durations = &state->durations.Add({{"route", route}}, latency_buckets());
      metric_route = std::move(route);
      requests = nullptr;
    }
    if (requests == nullptr || response.result_int() != metric_status) {
      metric_status = response.result_int();
      requests = &state->requests.Add(
          {{"route", metric_route}, {"status", std::to_string(metric_status)}});
    }
    requests->Increment();
    durations->Observe(std::chrono::duration<double>(Clock::now() - started).count());

    const bool keep_alive = request.keep_alive() && !state->stopping;
    fit_to_method(response, request.method());
    response.keep_alive(keep_alive);
    if (!co_await write_response(stream, response, options) || !keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  {
    std::lock_guard lock(state->mutex);
    state->connections.erase(std::weak_ptr<Connection>(connection));
  }
  --state->open;
  state->open_gauge.Decrement();
}

asio::awaitable<void> refuse(std::shared_ptr<State> state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::milliseconds{1'000});
  auto [write_ec, written] = co_await asio::async_write(
      stream, asio::buffer(too_many_connections_bytes()), asio::as_tuple(asio::use_awaitable));
  if (write_ec) co_return;
  // A short lingering close: the request the client already sent is read and dropped.
  co_await linger(stream, std::chrono::milliseconds{500}, 64 * 1024);
  static_cast<void>(state);
}

// Out of descriptors: give up the reserve, take the waiting connection, answer it 503 at once
// (a short write that fits the socket's buffer), close it and take the reserve back. Without
// this the connection would wait in the backlog until its client gave up.
bool refuse_without_descriptors(State& state, tcp::acceptor& acceptor) {
  std::lock_guard lock(state.reserve_mutex);
  if (state.reserve_fd < 0) return false;
  ::close(state.reserve_fd);
  state.reserve_fd = -1;
  beast::error_code ec;
  // The acceptor is non-blocking (accept_loop): no waiting here either.
  tcp::socket socket = acceptor.accept(ec);
  beast::error_code ignored;
  if (!ec) {
    state.refused.Increment();
    socket.non_blocking(true, ignored);
    // Whatever request already arrived is read first, so that closing does not reset the
    // connection under the answer.
    std::array<char, 4096> discard{};
    socket.read_some(asio::buffer(discard), ignored);
    asio::write(socket, asio::buffer(too_many_connections_bytes()), ignored);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }
  // Another thread may have taken the descriptor meanwhile: then the accept loop tries again.
  state.reserve_fd = open_reserve_descriptor();
  return !ec;
}

// Takes one accepted connection: refused when the server is full, else served. False once the
// server is stopping.
bool take(const std::shared_ptr<State>& state, tcp::socket socket) {
  const std::size_t max = state->options.max_connections;
  // Counted before anything else: the acceptors of several loops take connections at once, and
  // only one of them may take the last place.
  const std::size_t before = state->open.fetch_add(1);
  if (before >= max) {
    // Eviction makes room, but the closing connections take a moment to go: a few more than
    // max may be open meanwhile, never many.
    const bool made_room =
        state->options.evict_idle_when_full && before < max + max / 4 + 1 && state->evict_one();
    if (!made_room) {
      --state->open;
      state->refused.Increment();
      auto executor = socket.get_executor();
      asio::co_spawn(executor, refuse(state, std::move(socket)), asio::detached);
      return true;
    }
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto connection = std::make_shared<Connection>(std::move(socket));
  {
    // Under the mutex that shutdown's sweep takes: either the sweep sees this connection or
    // this sees that the server is stopping.
    std::lock_guard lock(state->mutex);
    if (state->stopping) {
      --state->open;
      return false;
    }
    state->connections.insert(connection);
  }
  state->open_gauge.Increment();
  asio::co_spawn(connection->stream.get_executor(), serve(state, connection), asio::detached);
  return true;
}

// Connections taken per wakeup of the accept loop beyond the one it waited for.
constexpr int kAcceptBurst = 256;

asio::awaitable<void> accept_loop(std::shared_ptr<State> state,
                                  std::shared_ptr<tcp::acceptor> owned) {
  tcp::acceptor& acceptor = *owned;
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  // Non-blocking: after each wakeup the loop takes whatever else is waiting in the listen queue
  // at once. One accept per wakeup would let every other ready handler run between two accepts,
  // and the last of a burst of thousands of connections would wait seconds for its first read.
  beast::error_code ignored;
  acceptor.non_blocking(true, ignored);
  // An aborted connection is reported rather than waited past: Asio's synchronous accept would
  // otherwise poll, ignoring non_blocking, until the next connection came.
  acceptor.set_option(asio::socket_base::enable_connection_aborted(true), ignored);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(state->connection_executor(acceptor),
                                                       asio::as_tuple(asio::use_awaitable));
    if (state->stopping || ec == asio::error::operation_aborted) break;
    bool have_reserve = false;
    bool warn = false;
    {
      std::lock_guard lock(state->reserve_mutex);
      if (state->reserve_fd < 0) state->reserve_fd = open_reserve_descriptor();
      have_reserve = state->reserve_fd >= 0;
      const auto now = Clock::now();
      if (ec && ec != asio::error::connection_aborted &&
          now - state->last_descriptor_warning >= std::chrono::seconds{1}) {
        state->last_descriptor_warning = now;
        warn = true;
      }
    }
    if (ec == asio::error::connection_aborted) continue;  // the client gave up first
    if (ec) {
      const bool no_descriptors = out_of_descriptors(ec);
      if (warn) {
        state->logger.warn("http_accept_failed",
                           {{"error", ec.message()},
                            {"open_connections", state->open.load()},
                            {"answered_503", no_descriptors && have_reserve}});
      }
      if (no_descriptors && have_reserve && refuse_without_descriptors(*state, acceptor)) {
        continue;
      }
      // Give the process a moment instead of spinning on accept.
      backoff.expires_after(std::chrono::milliseconds{50});
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!take(state, std::move(socket))) break;
    bool stopped = false;
    for (int i = 0; i < kAcceptBurst && !stopped; ++i) {
      tcp::socket next(state->connection_executor(acceptor));
      beast::error_code accept_ec;
      acceptor.accept(next, accept_ec);
      // would_block: the queue is empty; any other failure is met by the next async_accept.
      if (accept_ec) break;
      stopped = !take(state, std::move(next));
    }
    if (stopped) break;
  }
}

}  // namespace

Server::Server(asio::any_io_executor executor, ServerOptions options, Handler handler,
               prometheus::Registry& registry, log::Logger& logger)
    : state_(std::make_shared<State>(std::move(executor), std::vector<asio::any_io_executor>{},
                                     std::move(options), std::move(handler), registry, logger)) {}

Server::Server(std::vector<asio::any_io_executor> loops, ServerOptions options, Handler handler,
               prometheus::Registry& registry, log::Logger& logger) {
  if (loops.empty()) throw std::invalid_argument("http::Server: no event loops given");
  auto first = loops.front();
  state_ = std::make_shared<State>(std::move(first), std::move(loops), std::move(options),
                                   std::move(handler), registry, logger);
}

Server::~Server() {
  state_->stopping = true;
  close_acceptors(state_);
  state_->for_each_connection([](Connection& c) { c.stream.close(); });
}

void Server::start() {
  tcp::endpoint at{asio::ip::make_address(state_->options.address), state_->options.port};
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  if (state_->loops.empty()) {
    acceptors.push_back(std::make_shared<tcp::acceptor>(asio::make_strand(state_->executor)));
  } else {
    for (const auto& loop : state_->loops)
      acceptors.push_back(std::make_shared<tcp::acceptor>(loop));
  }
  const bool shared = acceptors.size() > 1;
  if (shared && at.port() != 0) {
    // A port another process listens on is refused here, as it would be without SO_REUSEPORT:
    // a socket bound without it cannot join that listener (it throws, address in use).
    tcp::acceptor probe(state_->executor);
    probe.open(at.protocol());
    probe.set_option(asio::socket_base::reuse_address(true));
    probe.bind(at);
  }
  for (auto& acceptor : acceptors) {
    acceptor->open(at.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    if (shared) acceptor->set_option(reuse_port(true));
    acceptor->bind(at);
    acceptor->listen(asio::socket_base::max_listen_connections);
    at.port(acceptor->local_endpoint().port());  // port 0: the others take the one chosen
  }
  port_ = at.port();
  {
    std::lock_guard lock(state_->reserve_mutex);
    if (state_->reserve_fd < 0) state_->reserve_fd = open_reserve_descriptor();
  }
  state_->logger.info(
      "http_listening",
      {{"address", state_->options.address}, {"port", port_}, {"acceptors", acceptors.size()}});
  for (auto& acceptor : acceptors) {
    state_->acceptors.push_back(acceptor);
    auto executor = acceptor->get_executor();
    asio::co_spawn(executor, accept_loop(state_, std::move(acceptor)), asio::detached);
  }
}

asio::awaitable<std::size_t> Server::shutdown(std::chrono::milliseconds grace) {
  auto state = state_;
  state->stopping = true;
  close_acceptors(state);
  // Idle connections go now; busy ones close themselves after answering (Connection: close).
  state->for_each_connection([](Connection& c) {
    if (c.phase.load() == Phase::idle) c.stream.cancel();
  });
  asio::steady_timer wait(co_await asio::this_coro::executor);
  const auto until = Clock::now() + grace;
  while (state->open.load() > 0 && Clock::now() < until) {
    wait.expires_after(std::chrono::milliseconds{20});
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  const std::size_t forced = state->open.load();
  if (forced > 0) {
    state->logger.warn("http_shutdown_forced", {{"connections", forced}});
    state->for_each_connection([](Connection& c) { c.stream.close(); });
  }
  co_return forced;
}

std::size_t Server::open_connections() const noexcept {
  return state_->open.load();
}
std::size_t Server::requests_in_flight() const noexcept {
  return state_->in_flight.load();
}

}  // namespace tracker::http
