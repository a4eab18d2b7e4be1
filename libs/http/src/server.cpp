#include <tracker/http/server.hpp>

#include <mutex>
#include <set>

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
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace tracker::http {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool busy = false;  // between a request's first byte and its response; on the strand only
};

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
  return buckets;
}

}  // namespace

// Shared by the accept loop, every connection coroutine and the Server object. The acceptor
// lives on its own strand; `connections` is guarded by `mutex`; counters are atomics.
struct Server::State {
  State(asio::any_io_executor ex, ServerOptions opts, Handler h, prometheus::Registry& registry,
        log::Logger& log)
      : executor(ex),
        acceptor(asio::make_strand(ex)),
        options(std::move(opts)),
        handler(std::move(h)),
        logger(log),
        requests(prometheus::BuildCounter()
                     .Name("tracker_http_requests_total")
                     .Help("HTTP requests answered, by route and status.")
                     .Register(registry)),
        durations(prometheus::BuildHistogram()
                      .Name("tracker_http_request_duration_seconds")
                      .Help("Time from a complete request to its response being ready.")
                      .Register(registry)),
        rejected(prometheus::BuildCounter()
                     .Name("tracker_http_rejected_requests_total")
                     .Help("Requests refused before reaching a handler, by reason.")
                     .Register(registry)),
        open_gauge(prometheus::BuildGauge()
                       .Name("tracker_http_open_connections")
                       .Help("Open client connections.")
                       .Register(registry)
                       .Add({})),
        in_flight_gauge(prometheus::BuildGauge()
                            .Name("tracker_http_requests_in_flight")
                            .Help("Requests being handled.")
                            .Register(registry)
                            .Add({})),
        refused(prometheus::BuildCounter()
                    .Name("tracker_http_connections_refused_total")
                    .Help("Connections refused with 503 because max_connections were open.")
                    .Register(registry)
                    .Add({})) {
    if (!options.route_label) options.route_label = [](std::string_view) { return "all"; };
  }

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  ServerOptions options;
  Handler handler;
  log::Logger& logger;

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& durations;
  prometheus::Family<prometheus::Counter>& rejected;
  prometheus::Gauge& open_gauge;
  prometheus::Gauge& in_flight_gauge;
  prometheus::Counter& refused;

  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::set<std::shared_ptr<Connection>> connections;

  void reject(const char* reason) { rejected.Add({{"reason", reason}}).Increment(); }

  // Runs `action` on each connection's strand.
  template <typename Action>
  std::size_t for_each_connection(Action action) {
    std::lock_guard lock(mutex);
    for (const auto& connection : connections) {
      asio::post(connection->stream.get_executor(), [connection, action] { action(*connection); });
    }
    return connections.size();
  }
};

namespace {

using State = Server::State;

asio::awaitable<void> write_and_close(beast::tcp_stream& stream, Response response,
                                      std::chrono::milliseconds timeout) {
  response.keep_alive(false);
  stream.expires_after(timeout);
  co_await beast_http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
}

Response payload_too_large(std::uint64_t limit) {
  return error_response(beast_http::status::payload_too_large, "payload_too_large",
                        "request body exceeds " + std::to_string(limit) + " bytes");
}

asio::awaitable<void> serve(std::shared_ptr<State> state, std::shared_ptr<Connection> connection) {
  auto& stream = connection->stream;
  const auto& options = state->options;
  beast::flat_buffer buffer;
  for (;;) {
    // Idle: wait for the first byte of the next request.
    if (buffer.size() == 0) {
      stream.expires_after(options.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096),
                                                     asio::as_tuple(asio::use_awaitable));
      if (ec) break;  // closed by the client, idle too long, or shutting down
      buffer.commit(n);
    }
    if (state->stopping) break;
    connection->busy = true;

    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(options.header_limit);
    parser.body_limit(options.body_limit);
    stream.expires_after(options.header_timeout);
    auto [header_ec, header_n] = co_await beast_http::async_read_header(
        stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (header_ec == beast_http::error::body_limit) {
      // Beast checks Content-Length against the body limit as soon as the headers are in.
      state->reject("body_too_large");
      co_await write_and_close(stream, payload_too_large(options.body_limit), options.body_timeout);
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
            options.body_timeout);
      } else if (header_ec == beast::error::timeout) {
        state->reject("header_timeout");
      } else if (header_ec != beast_http::error::end_of_stream && header_ec != asio::error::eof) {
        state->reject("bad_request");
        co_await write_and_close(stream,
                                 error_response(beast_http::status::bad_request, "bad_request",
                                                "malformed HTTP request: " + header_ec.message()),
                                 options.body_timeout);
      }
      break;
    }
    if (auto length = parser.content_length(); length && *length > options.body_limit) {
      state->reject("body_too_large");
      co_await write_and_close(stream, payload_too_large(options.body_limit), options.body_timeout);
      break;
    }
    stream.expires_after(options.body_timeout);
    auto [body_ec, body_n] = co_await beast_http::async_read(stream, buffer, parser,
                                                             asio::as_tuple(asio::use_awaitable));
    if (body_ec) {
      if (body_ec == beast_http::error::body_limit) {  // chunked bodies have no length up front
        state->reject("body_too_large");
        co_await write_and_close(stream, payload_too_large(options.body_limit),
                                 options.body_timeout);
      } else if (body_ec == beast::error::timeout) {
        state->reject("body_timeout");
      } else {
        state->reject("bad_request");
      }
      break;
    }

    Request request = parser.release();
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
    const std::string route = options.route_label(request.target());
    state->requests.Add({{"route", route}, {"status", std::to_string(response.result_int())}})
        .Increment();
    state->durations.Add({{"route", route}}, latency_buckets())
        .Observe(std::chrono::duration<double>(Clock::now() - started).count());

    const bool keep_alive = request.keep_alive() && !state->stopping;
    response.keep_alive(keep_alive);
    stream.expires_after(options.body_timeout);
    auto [write_ec, write_n] =
        co_await beast_http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    connection->busy = false;
    if (write_ec || !keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  {
    std::lock_guard lock(state->mutex);
    state->connections.erase(connection);
  }
  --state->open;
  state->open_gauge.Decrement();
}

asio::awaitable<void> refuse(std::shared_ptr<State> state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  auto response = error_response(beast_http::status::service_unavailable, "too_many_connections",
                                 "connection limit reached, try again");
  response.set(beast_http::field::retry_after, "1");
  co_await write_and_close(stream, std::move(response), std::chrono::milliseconds{1'000});
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  static_cast<void>(state);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  for (;;) {
    auto [ec, socket] = co_await state->acceptor.async_accept(asio::make_strand(state->executor),
                                                              asio::as_tuple(asio::use_awaitable));
    if (state->stopping || ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE) and the like: say so, and give the process a
      // moment instead of spinning on accept.
      state->logger.warn("http_accept_failed", {{"error", ec.message()}});
      backoff.expires_after(std::chrono::milliseconds{50});
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (state->open.load() >= state->options.max_connections) {
      state->refused.Increment();
      auto executor = socket.get_executor();
      asio::co_spawn(executor, refuse(state, std::move(socket)), asio::detached);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto connection = std::make_shared<Connection>(std::move(socket));
    {
      std::lock_guard lock(state->mutex);
      state->connections.insert(connection);
    }
    ++state->open;
    state->open_gauge.Increment();
    asio::co_spawn(connection->stream.get_executor(), serve(state, connection), asio::detached);
  }
}

}  // namespace

Server::Server(asio::any_io_executor executor, ServerOptions options, Handler handler,
               prometheus::Registry& registry, log::Logger& logger)
    : state_(std::make_shared<State>(std::move(executor), std::move(options), std::move(handler),
                                     registry, logger)) {}

Server::~Server() {
  state_->stopping = true;
  asio::post(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
  });
  state_->for_each_connection([](Connection& c) { c.stream.close(); });
}

void Server::start() {
  const tcp::endpoint at{asio::ip::make_address(state_->options.address), state_->options.port};
  state_->acceptor.open(at.protocol());
  state_->acceptor.set_option(asio::socket_base::reuse_address(true));
  state_->acceptor.bind(at);
  state_->acceptor.listen(asio::socket_base::max_listen_connections);
  port_ = state_->acceptor.local_endpoint().port();
  state_->logger.info("http_listening", {{"address", state_->options.address}, {"port", port_}});
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_), asio::detached);
}

asio::awaitable<std::size_t> Server::shutdown(std::chrono::milliseconds grace) {
  auto state = state_;
  state->stopping = true;
  asio::post(state->acceptor.get_executor(), [state] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
  });
  // Idle connections go now; busy ones close themselves after answering (Connection: close).
  state->for_each_connection([](Connection& c) {
    if (!c.busy) c.stream.cancel();
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
