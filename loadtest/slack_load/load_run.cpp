#include "load_run.hpp"

#include "wire.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tracker::loadtest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// At most kConnectSlots connects are in flight at once (a slot is held from the connect's start
// to its completion). 5,000 SYNs at once would overflow the listener's queues (somaxconn 4096,
// tcp_max_syn_backlog 2048 here); a dropped SYN is retransmitted after 1 s, then 3 s, which
// would be charged to the server although only the client's burst caused it. 200 in flight
// keeps the connect phase short (5,000 connections open in well under a second on loopback)
// and far below those queues.
constexpr std::size_t kConnectSlots = 200;

// A slot is a message in the channel: acquiring sends one (waiting while kConnectSlots are in
// it), releasing takes one out. concurrent_channel because workers may run on several threads.
using ConnectSlots = asio::experimental::concurrent_channel<void(error_code)>;

// Read-only during the run, apart from `slots` and `running` which are thread-safe.
struct Shared {
  const Options& options;
  const SlackSigner& signer;
  const EventFactory& events;
  std::string request_head;  // request line and the headers that are the same every time
  Clock::duration request_timeout;
  Clock::time_point start;
  Clock::time_point deadline;  // start + --time-limit
  ConnectSlots slots;
  std::atomic<int> running{0};
  // Paced runs (--rate): request i is due at paced_start + i / rate. Workers take the next
  // request number from next_seq whenever they are free, so the schedule is kept by whichever
  // connection is free and the total rate does not depend on how many connections there are.
  Clock::time_point paced_start;
  std::atomic<std::int64_t> next_seq{0};
};

// A request whose due time is this far off is signed after the wait rather than before it: its
// timestamp would otherwise be stale by then (receivers allow five minutes).
constexpr auto kSignAheadLimit = std::chrono::seconds(60);

struct Share {
  std::int64_t first_seq = 0;
  std::int64_t count = 0;
  Clock::duration start_delay{};
};

// The request as it goes on the wire (see signed_request); responses are parsed by Beast.
std::string make_request(const Shared& shared, std::int64_t seq) {
  const auto now = unix_now();
  return signed_request(shared.request_head, shared.signer, std::to_string(now),
                        shared.events.body(seq, now));
}

float elapsed_ms(Clock::time_point since) {
  return static_cast<float>(
      std::chrono::duration<double, std::milli>(Clock::now() - since).count());
}

// The earlier of the operation's own timeout and the run's end; `run_limit` says which it is.
void set_deadline(const Shared& shared, beast::tcp_stream& stream, bool& run_limit) {
  const auto own = Clock::now() + shared.request_timeout;
  run_limit = shared.deadline < own;
  stream.expires_at(std::min(own, shared.deadline));
}

// Connects under a connect slot; `connect_start` is when the slot was obtained. The caller has
// set the stream's deadline.
asio::awaitable<error_code> connect(Shared& shared, beast::tcp_stream& stream, WorkerRecord& out,
                                    Clock::time_point& connect_start) {
  const error_code slot_message;
  auto [slot_ec] = co_await shared.slots.async_send(slot_message, kTuple);
  connect_start = Clock::now();
  if (slot_ec) co_return slot_ec;
  ++out.connects;
  auto [ec] = co_await stream.async_connect(shared.options.target, kTuple);
  shared.slots.try_receive([](error_code) {});
  if (!ec) {
    error_code ignored;
    stream.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  }
  co_return ec;
}

// The connect phase (keep-alive without a ramp): every connection is opened before the first
// request, so the requests then run at the full concurrency from the start.
asio::awaitable<void> open_connection(Shared& shared, beast::tcp_stream& stream,
                                      WorkerRecord& out) {
  bool run_limit = false;
  set_deadline(shared, stream, run_limit);
  Clock::time_point ignored_start;
  const error_code ec = co_await connect(shared, stream, out, ignored_start);
  if (ec) {
    stream.close();
    const Cause cause = classify(ec, run_limit);
    ++out.connect_failures[cause == Cause::kOther ? ec.message() : cause_name(cause)];
  }
  shared.running.fetch_sub(1);
}

// When request `seq` of a paced run is due.
Clock::time_point due_time(const Shared& shared, std::int64_t seq) {
  return shared.paced_start +
         std::chrono::duration_cast<Clock::duration>(
             std::chrono::duration<double>(static_cast<double>(seq) / shared.options.rate));
}

// A paced worker found the run's deadline reached: the requests nobody has taken yet will never
// be sent. The first worker to get here takes them all, so each is counted once.
std::int64_t take_unsent(Shared& shared) {
  const std::int64_t taken = shared.next_seq.exchange(shared.options.requests);
  return std::max<std::int64_t>(0, shared.options.requests - taken);
}

// One worker: its share of the requests, one after another, on one connection while the server
// keeps it open (or a new connection per request with --no-keepalive). Paced (--rate), its share
// is whichever requests it takes when free, each sent no earlier than its due time. Every wait is
// bounded by the earlier of --request-timeout and the run's deadline, so the worker ends by
// itself.
asio::awaitable<void> run_worker(Shared& shared, Share share, beast::tcp_stream& stream,
                                 WorkerRecord& out) {
  const auto& options = shared.options;
  const bool paced = options.rate > 0;
  if (share.start_delay > Clock::duration::zero()) {
    asio::steady_timer ramp(co_await asio::this_coro::executor,
                            std::min(shared.start + share.start_delay, shared.deadline));
    co_await ramp.async_wait(kTuple);
  }
  beast::flat_buffer buffer;
  // A paced worker's share is only what it is likely to get; the vector grows if it gets more.
  out.samples.reserve(static_cast<std::size_t>(share.count));
  asio::steady_timer pace(co_await asio::this_coro::executor);

  for (std::int64_t i = 0; paced || i < share.count; ++i) {
    std::int64_t seq = share.first_seq + i;
    Clock::time_point due;
    std::string req;
    if (paced) {
      seq = shared.next_seq.fetch_add(1);
      if (seq >= options.requests) break;
      due = due_time(shared, seq);
      if (due >= shared.deadline || Clock::now() >= shared.deadline) {
        out.not_sent += 1 + take_unsent(shared);
        break;
      }
      // Signed while waiting, so that the signing is not counted as the server's latency.
      const bool sign_ahead = due - Clock::now() < kSignAheadLimit;
      if (sign_ahead) req = make_request(shared, seq);
      if (due > Clock::now()) {
        pace.expires_at(due);
        co_await pace.async_wait(kTuple);
      }
      if (!sign_ahead) req = make_request(shared, seq);
    } else {
      if (Clock::now() >= shared.deadline) {
        out.not_sent += share.count - i;
        break;
      }
      req = make_request(shared, seq);
    }
    Sample sample;
    bool run_limit = false;
    set_deadline(shared, stream, run_limit);
    auto begin = Clock::now();
    if (paced) {
      // The request starts at the later of its due time and this connection being free; how
      // much later than due is the queueing a closed-model client would hide.
      const double lag_ms = std::chrono::duration<double, std::milli>(begin - due).count();
      ++out.starts;
      out.first_begun = std::min(out.first_begun, begin);
      out.last_begun = std::max(out.last_begun, begin);
      out.start_lag_sum_ms += lag_ms;
      out.start_lag_max_ms = std::max(out.start_lag_max_ms, lag_ms);
    }
    error_code ec;
    if (!stream.socket().is_open()) {
      Clock::time_point connect_start;
      ec = co_await connect(shared, stream, out, connect_start);
      // Without keep-alive the connect is part of the request, as in JMeter's elapsed time;
      // with keep-alive the request starts at its write (a failed connect is all it did).
      begin = options.keepalive && !ec ? Clock::now() : connect_start;
    }
    // Paced, the latency runs from the due time, whatever delayed the request: waiting for the
    // connection to be free, or for it to be opened again.
    if (paced) begin = due;
    out.first_start = std::min(out.first_start, begin);
    if (!ec) {
      auto [write_ec, sent] = co_await asio::async_write(stream, asio::buffer(req), kTuple);
      ec = write_ec;
      sample.bytes_sent = static_cast<std::uint32_t>(sent);
    }
    bool server_keeps_open = false;
    if (!ec) {
      http::response<http::string_body> res;
      auto [read_ec, received] = co_await http::async_read(stream, buffer, res, kTuple);
      ec = read_ec;
      sample.bytes_received = static_cast<std::uint32_t>(received);
      if (!ec) {
        sample.status = static_cast<std::uint16_t>(res.result_int());
        server_keeps_open = res.keep_alive();
      }
    }
    sample.latency_ms = elapsed_ms(begin);
    const auto end = Clock::now();
    out.last_end = std::max(out.last_end, end);
    if (ec) {
      sample.cause = classify(ec, run_limit);
      if (sample.cause == Cause::kOther) ++out.other_errors[ec.message()];
    } else if (end > shared.deadline) {
      // Read after the deadline (the response was waiting when the loop got to it): the run
      // counts only what finished within --time-limit.
      sample.cause = Cause::kTimeLimit;
    }
    out.samples.push_back(sample);
    if (ec || !server_keeps_open || !options.keepalive) {
      error_code ignored;
      stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      stream.close();
      buffer.clear();
    }
  }
  stream.close();
  shared.running.fetch_sub(1);
}

// Ends the run at the deadline: workers' own timers stop their socket operations; this cancels
// the waits for a connect slot, which have no timer. Polls rather than waiting for one timer so
// that it needs no signal from workers on other threads when they finish early.
asio::awaitable<void> watch_deadline(Shared& shared, bool& time_limit_hit) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  while (shared.running.load() > 0) {
    if (Clock::now() >= shared.deadline) {
      time_limit_hit = true;
      shared.slots.cancel();
    }
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(kTuple);
  }
}

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

// Runs the io_context on --threads threads until it has no more work.
void run_io(asio::io_context& io, int threads) {
  std::vector<std::thread> extra;
  for (int t = 1; t < threads; ++t) extra.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : extra) t.join();
  io.restart();
}

}  // namespace

LoadResult run_load(const Options& options, const SlackSigner& signer, const EventFactory& events) {
  const int threads = options.threads;
  asio::io_context io(threads);
  Shared shared{
      .options = options,
      .signer = signer,
      .events = events,
      .request_head = request_head(options.target, options.path, options.keepalive, "slack-load"),
      .request_timeout = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(options.request_timeout_s)),
      .start = {},
      .deadline = {},
      .slots = ConnectSlots(io, kConnectSlots),
  };
  const auto workers =
      static_cast<std::size_t>(std::min<long>(options.connections, options.requests));
  LoadResult result;
  result.workers.resize(workers);
  // One thread needs no strands; with several, each worker's handlers run on its own strand,
  // the same one in both phases.
  std::vector<asio::any_io_executor> executors;
  std::vector<beast::tcp_stream> streams;
  executors.reserve(workers);
  streams.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    executors.push_back(threads == 1 ? asio::any_io_executor(io.get_executor())
                                     : asio::any_io_executor(asio::make_strand(io)));
    streams.emplace_back(executors.back());
  }

  shared.start = Clock::now();
  shared.deadline = shared.start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options.time_limit_s));
  result.start = shared.start;

  if (options.keepalive && options.ramp_s == 0) {
    shared.running = static_cast<int>(workers);
    for (std::size_t w = 0; w < workers; ++w) {
      asio::co_spawn(executors[w], open_connection(shared, streams[w], result.workers[w]), rethrow);
    }
    asio::co_spawn(io, watch_deadline(shared, result.time_limit_hit), rethrow);
    run_io(io, threads);
    result.connect_phase_s = std::chrono::duration<double>(Clock::now() - shared.start).count();
  }

  shared.running = static_cast<int>(workers);
  // The schedule starts once the connections are open, so the connect phase does not put every
  // request behind it.
  shared.paced_start = Clock::now();
  const auto total = static_cast<std::int64_t>(options.requests);
  const auto count = static_cast<std::int64_t>(workers);
  std::int64_t next_seq = 0;
  for (std::size_t w = 0; w < workers; ++w) {
    const auto index = static_cast<std::int64_t>(w);
    Share share;
    share.first_seq = next_seq;
    share.count = total / count + (index < total % count ? 1 : 0);
    share.start_delay = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        options.ramp_s * static_cast<double>(index) / static_cast<double>(count)));
    next_seq += share.count;
    asio::co_spawn(executors[w], run_worker(shared, share, streams[w], result.workers[w]), rethrow);
  }
  asio::co_spawn(io, watch_deadline(shared, result.time_limit_hit), rethrow);
  run_io(io, threads);
  return result;
}

}  // namespace tracker::loadtest
