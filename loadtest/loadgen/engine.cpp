#include "engine.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <tracker/http/client.hpp>

#include "wire.hpp"

namespace tracker::loadtest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using boost::system::error_code;
using nlohmann::json;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// At most this many connects in flight at once: thousands of SYNs at once would overflow the
// listener's queues, and the retransmitted SYNs (1 s, 3 s later) would be charged to the server
// although only the client's burst caused them.
constexpr int kConnectSlots = 200;
// A request due this far off is signed when due rather than ahead: its timestamp would be stale.
constexpr auto kSignAheadLimit = std::chrono::seconds(60);
// How often the watcher asks the Slack simulator for new posts while triggers are outstanding.
constexpr auto kWatchEvery = std::chrono::milliseconds(200);
// One POST /trigger or one poll of the simulator waits at most this long for its answer.
constexpr auto kControlTimeout = std::chrono::seconds(30);

Clock::duration secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}
double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct PhaseState {
  const EventsPhase* phase = nullptr;
  std::uint16_t label = 0;
  std::int64_t seq_base = 0;  // event numbers of this phase start here (unique over the run)
  std::string head;
  std::int64_t next = 0;  // next request index to take
  std::int64_t finished = 0;
  std::int64_t failed = 0;
};

struct PendingTrigger {
  int index = 0;
  double due_s = 0;
  std::vector<std::string> deliveries;
};

struct Run {
  const Scenario& scenario;
  const Targets& targets;
  const SlackSigner& signer;
  const EventFactory& events;
  Results& results;
  const Progress& progress;
  std::chrono::seconds progress_every;
  Clock::time_point start;
  Clock::time_point deadline;
  RunSummary summary;
  std::vector<PhaseState> phases;
  int workers_running = 0;
  int open_connections = 0;
  int connecting = 0;
  // Triggers.
  std::uint16_t trigger_label = 0;
  std::uint16_t trigger_request_label = 0;
  int triggers_fired = 0;
  int triggers_finished = 0;
  std::vector<PendingTrigger> pending;
  std::map<std::string, std::int64_t> posted_micros;  // delivery id -> latest post's ts in µs
  std::uint64_t last_sequence = 0;
  std::unique_ptr<http::Client> scheduler;
  std::unique_ptr<http::Client> slack_sim;

  [[nodiscard]] bool triggers_outstanding() const {
    return scenario.triggers && triggers_finished < scenario.triggers->count;
  }
  [[nodiscard]] bool finished() const { return workers_running == 0 && !triggers_outstanding(); }
  [[nodiscard]] double now_s() const { return seconds_between(start, Clock::now()); }
};

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

asio::awaitable<void> sleep_until(Clock::time_point when) {
  asio::steady_timer timer(co_await asio::this_coro::executor, when);
  co_await timer.async_wait(kTuple);
}

void set_deadline(Run& run, beast::tcp_stream& stream, double timeout_s, bool& run_limit) {
  const auto own = Clock::now() + secs(timeout_s);
  run_limit = run.deadline < own;
  stream.expires_at(std::min(own, run.deadline));
}

asio::awaitable<error_code> connect(Run& run, beast::tcp_stream& stream) {
  while (run.connecting >= kConnectSlots) {
    if (Clock::now() >= run.deadline) co_return asio::error::timed_out;
    co_await sleep_until(Clock::now() + std::chrono::milliseconds(1));
  }
  ++run.connecting;
  ++run.summary.connects;
  auto [ec] = co_await stream.async_connect(run.targets.ingest, kTuple);
  --run.connecting;
  if (!ec) {
    error_code ignored;
    stream.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    ++run.open_connections;
    run.summary.peak_connections = std::max(run.summary.peak_connections, run.open_connections);
  }
  co_return ec;
}

void close(Run& run, beast::tcp_stream& stream) {
  if (!stream.socket().is_open()) return;
  error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream.close();
  --run.open_connections;
}

// One connection of a phase: opens when the ramp reaches it, then takes the phase's next
// request whenever it is free and sends it at its due time. Latency runs from the due time, so
// a request that waited for a free connection (or a reconnect) shows that wait.
asio::awaitable<void> connection(Run& run, PhaseState& state, int index) {
  const EventsPhase& phase = *state.phase;
  const auto phase_start = run.start + secs(phase.start_s);
  co_await sleep_until(
      std::min(phase_start + secs(connection_opens_s(phase.connections, index)), run.deadline));
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  beast::flat_buffer buffer;
  if (phase.keepalive && Clock::now() < run.deadline) {
    bool run_limit = false;
    set_deadline(run, stream, phase.request_timeout_s, run_limit);
    const error_code ec = co_await connect(run, stream);
    if (ec) {
      stream.close();
      const Cause cause = classify(ec, run_limit);
      ++run.summary.connect_failures[cause == Cause::kOther ? ec.message() : cause_name(cause)];
    }
  }
  while (state.next < phase.requests) {
    const std::int64_t i = state.next++;
    const auto due = phase_start + secs(due_s(phase, run.scenario.users, i));
    if (due >= run.deadline) {
      // Nobody will send this one or any after it: count them once, here.
      run.results.not_sent(state.label, phase.requests - i);
      state.next = phase.requests;
      break;
    }
    const auto make = [&] {
      const auto now = unix_now();
      return signed_request(state.head, run.signer, std::to_string(now),
                            run.events.body(state.seq_base + i, now));
    };
    std::string request;
    const bool sign_ahead = due - Clock::now() < kSignAheadLimit;
    if (sign_ahead) request = make();
    if (due > Clock::now()) co_await sleep_until(due);
    if (!sign_ahead) request = make();

    TimedSample sample{.due_s = seconds_between(run.start, due), .label = state.label};
    bool run_limit = false;
    set_deadline(run, stream, phase.request_timeout_s, run_limit);
    error_code ec;
    if (!stream.socket().is_open()) ec = co_await connect(run, stream);
    if (!ec) {
      auto [write_ec, sent] = co_await asio::async_write(stream, asio::buffer(request), kTuple);
      ec = write_ec;
      sample.bytes_sent = static_cast<std::uint32_t>(sent);
    }
    bool keep_open = false;
    if (!ec) {
      bh::response<bh::string_body> response;
      auto [read_ec, received] = co_await bh::async_read(stream, buffer, response, kTuple);
      ec = read_ec;
      sample.bytes_received = static_cast<std::uint32_t>(received);
      if (!ec) {
        sample.status = static_cast<std::uint16_t>(response.result_int());
        keep_open = response.keep_alive();
      }
    }
    const auto end = Clock::now();
    sample.latency_ms =
        static_cast<float>(std::chrono::duration<double, std::milli>(end - due).count());
    if (ec) {
      sample.cause = classify(ec, run_limit);
      if (sample.cause == Cause::kOther) sample.detail = run.results.detail(ec.message());
    } else if (end > run.deadline) {
      sample.cause = Cause::kTimeLimit;
    }
    run.results.add(sample);
    ++state.finished;
    if (!sample.ok()) ++state.failed;
    if (ec || !keep_open || !phase.keepalive) {
      close(run, stream);
      buffer.clear();
    }
  }
  close(run, stream);
  --run.workers_running;
}

std::int64_t ts_micros(const std::string& ts) {
  const auto dot = ts.find('.');
  if (dot == std::string::npos) return 0;
  try {
    return std::stoll(ts.substr(0, dot)) * 1'000'000 + std::stoll(ts.substr(dot + 1));
  } catch (const std::exception&) {
    return 0;
  }
}

// The trigger's outcome, as the "scheduler trigger" sample: from its due time to the latest of
// its posts, or a failure saying what was missing.
void finish_trigger(Run& run, const PendingTrigger& t, std::int64_t latest_micros,
                    const std::string& failure) {
  TimedSample sample{.due_s = t.due_s, .label = run.trigger_label};
  const auto due_micros =
      std::chrono::duration_cast<std::chrono::microseconds>(run.summary.started.time_since_epoch())
          .count() +
      static_cast<std::int64_t>(t.due_s * 1e6);
  if (failure.empty()) {
    sample.status = 200;
    sample.latency_ms =
        static_cast<float>(static_cast<double>(latest_micros - due_micros) / 1000.0);
  } else {
    sample.cause = Cause::kOther;
    sample.detail = run.results.detail(failure);
    sample.latency_ms = static_cast<float>((run.now_s() - t.due_s) * 1000.0);
  }
  run.results.add(sample);
  ++run.triggers_finished;
}

// Settles the pending triggers whose posts have all been seen, or whose time is up.
void settle(Run& run, bool at_the_end) {
  const double now = run.now_s();
  std::vector<PendingTrigger> still;
  for (auto& t : run.pending) {
    std::int64_t latest = 0;
    std::size_t seen = 0;
    for (const auto& id : t.deliveries) {
      const auto it = run.posted_micros.find(id);
      if (it == run.posted_micros.end()) continue;
      ++seen;
      latest = std::max(latest, it->second);
    }
    const std::string missing =
        std::to_string(seen) + " of " + std::to_string(t.deliveries.size()) + " summaries posted";
    if (seen == t.deliveries.size()) {
      finish_trigger(run, t, latest, "");
    } else if (now - t.due_s > run.scenario.triggers->timeout_s) {
      finish_trigger(run, t, 0, "timeout: " + missing);
    } else if (at_the_end) {
      finish_trigger(run, t, 0, "time_limit: " + missing);
    } else {
      still.push_back(std::move(t));
    }
  }
  run.pending = std::move(still);
}

asio::awaitable<void> trigger(Run& run, int index) {
  const Triggers& t = *run.scenario.triggers;
  const double due_s = t.start_s + t.interval_s * index;
  const auto due = run.start + secs(due_s);
  co_await sleep_until(due);
  ++run.triggers_fired;
  const PendingTrigger failed_one{.index = index, .due_s = due_s};
  if (Clock::now() >= run.deadline) {
    run.results.not_sent(run.trigger_request_label, 1);
    finish_trigger(run, failed_one, 0, "not_sent: the time limit came first");
    co_return;
  }
  const json body{
      {"team_id", run.targets.team},
      {"day", summary_day(std::chrono::system_clock::now(), t.utc_offset_hours, t.summary_hour)},
      {"force", t.force}};
  const std::string text = body.dump();
  const auto timeout = std::min<Clock::duration>(kControlTimeout, run.deadline - Clock::now());
  // Built before the co_await: GCC 12 cannot keep an initializer list's array in a coroutine frame.
  http::Headers headers;
  headers.emplace_back("Authorization", "Bearer " + run.targets.admin_token);
  headers.emplace_back("Content-Type", "application/json");
  auto answer =
      co_await run.scheduler->send(bh::verb::post, "/trigger", text, std::move(headers),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  TimedSample request{.due_s = due_s,
                      .latency_ms = static_cast<float>((run.now_s() - due_s) * 1000.0),
                      .bytes_sent = static_cast<std::uint32_t>(text.size()),
                      .label = run.trigger_request_label};
  if (!answer) {
    request.cause = Cause::kOther;
    request.detail = run.results.detail(answer.error().describe());
    run.results.add(request);
    finish_trigger(run, failed_one, 0, "POST /trigger failed: " + answer.error().describe());
    co_return;
  }
  request.status = static_cast<std::uint16_t>(answer->result_int());
  request.bytes_received = static_cast<std::uint32_t>(answer->body().size());
  run.results.add(request);
  if (answer->result() != bh::status::ok) {
    finish_trigger(run, failed_one, 0, "POST /trigger answered " + std::to_string(request.status));
    co_return;
  }
  const json reply = json::parse(answer->body(), nullptr, false);
  if (!reply.is_object() || !reply.contains("claimed") || !reply.contains("jobs")) {
    finish_trigger(run, failed_one, 0, "POST /trigger answered without claimed and jobs");
    co_return;
  }
  const auto claimed = reply["claimed"].get<std::int64_t>();
  if (claimed == 0) {
    finish_trigger(run, failed_one, 0,
                   "nothing claimed (matched " + reply.value("matched", json(0)).dump() +
                       "): no study logs stored for the team in the day's period yet");
    co_return;
  }
  PendingTrigger pending{.index = index, .due_s = due_s};
  for (const auto& job : reply["jobs"])
    pending.deliveries.push_back("summary:" + job.get<std::string>());
  if (static_cast<std::int64_t>(pending.deliveries.size()) < claimed) {
    finish_trigger(run, failed_one, 0,
                   "the trigger listed " + std::to_string(pending.deliveries.size()) + " of " +
                       std::to_string(claimed) + " jobs, so its posts cannot all be told apart");
    co_return;
  }
  run.pending.push_back(std::move(pending));
  settle(run, false);  // its posts may have been seen already
}

// Polls the Slack simulator for new posts and settles triggers as their posts appear.
asio::awaitable<void> watch_posts(Run& run) {
  while (run.triggers_outstanding() && Clock::now() < run.deadline) {
    const auto timeout = std::min<Clock::duration>(kControlTimeout, run.deadline - Clock::now());
    auto answer = co_await run.slack_sim->send(
        bh::verb::get, "/_sim/messages?after=" + std::to_string(run.last_sequence), "", {},
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    if (answer && answer->result() == bh::status::ok) {
      const json reply = json::parse(answer->body(), nullptr, false);
      if (reply.is_object() && reply.contains("messages")) {
        for (const auto& m : reply["messages"]) {
          run.last_sequence = std::max(run.last_sequence, m.value("sequence", std::uint64_t{0}));
          const json& meta = m.contains("metadata") ? m["metadata"] : json();
          if (!meta.is_object() || !meta.contains("event_payload")) continue;
          const std::string id = meta["event_payload"].value("delivery_id", "");
          // This run's summaries only: job ids start with the team (team:user:day:vN).
          if (!id.starts_with("summary:" + run.targets.team + ":")) continue;
          ++run.summary.posts_seen;
          auto& latest = run.posted_micros[id];
          latest = std::max(latest, ts_micros(m.value("ts", "")));
        }
      }
    }
    settle(run, false);
    co_await sleep_until(std::min(Clock::now() + kWatchEvery, run.deadline));
  }
  settle(run, true);
}

std::string thousands(std::int64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

asio::awaitable<void> report_progress(Run& run) {
  auto next = run.start + run.progress_every;
  while (!run.finished() && Clock::now() < run.deadline) {
    // Short steps, so that the run ends as soon as its work does, not at the next line.
    const auto step = std::min(next, Clock::now() + std::chrono::milliseconds(100));
    co_await sleep_until(std::min(step, run.deadline + std::chrono::milliseconds(1)));
    if (Clock::now() < next) continue;
    next += run.progress_every;
    std::string line = fixed(run.now_s(), 0) + " s:";
    for (const auto& p : run.phases) {
      line += " " + p.phase->label + " " + thousands(p.finished) + "/" +
              thousands(p.phase->requests) + " (" + thousands(p.failed) + " failed);";
    }
    line += " " + std::to_string(run.open_connections) + " connections open";
    if (run.scenario.triggers) {
      line += "; triggers " + std::to_string(run.triggers_fired) + "/" +
              std::to_string(run.scenario.triggers->count) + " fired, " +
              std::to_string(run.triggers_finished) + " done; summary posts seen " +
              std::to_string(run.summary.posts_seen);
    }
    run.progress(line);
  }
}

}  // namespace

RunSummary run_scenario(const Scenario& scenario, const Targets& targets, const SlackSigner& signer,
                        const EventFactory& events, Results& results, const Progress& progress,
                        std::chrono::seconds progress_every) {
  asio::io_context io(1);
  Run run{.scenario = scenario,
          .targets = targets,
          .signer = signer,
          .events = events,
          .results = results,
          .progress = progress,
          .progress_every = progress_every};
  std::int64_t seq_base = 0;
  for (const auto& phase : scenario.phases) {
    run.phases.push_back(
        {.phase = &phase,
         .label = results.label(phase.label),
         .seq_base = seq_base,
         .head = request_head(targets.ingest, targets.path, phase.keepalive, "loadgen")});
    seq_base += phase.requests;
  }
  if (scenario.triggers) {
    if (!targets.scheduler || !targets.slack_sim) {
      throw std::invalid_argument(
          "the scenario has triggers: --scheduler and --slack-sim are needed");
    }
    run.trigger_label = results.label(scenario.triggers->label);
    run.trigger_request_label = results.label("POST /trigger");
    const auto base = [](const asio::ip::tcp::endpoint& e) {
      return "http://" + e.address().to_string() + ":" + std::to_string(e.port());
    };
    run.scheduler = std::make_unique<http::Client>(
        io.get_executor(), http::ClientOptions{.base_url = base(*targets.scheduler)});
    run.slack_sim = std::make_unique<http::Client>(
        io.get_executor(), http::ClientOptions{.base_url = base(*targets.slack_sim)});
  }

  run.start = Clock::now();
  run.summary.started = std::chrono::system_clock::now();
  run.deadline = run.start + secs(scenario.time_limit_s);
  for (auto& state : run.phases) {
    for (int c = 0; c < state.phase->connections.to; ++c) {
      if (c >= state.phase->requests) break;  // a connection that could never send
      ++run.workers_running;
      asio::co_spawn(io, connection(run, state, c), rethrow);
    }
  }
  if (scenario.triggers) {
    for (int k = 0; k < scenario.triggers->count; ++k) asio::co_spawn(io, trigger(run, k), rethrow);
    asio::co_spawn(io, watch_posts(run), rethrow);
  }
  asio::co_spawn(io, report_progress(run), rethrow);
  // The HTTP clients keep idle connections (and their timers); once the run is over they are
  // shut down so that the io_context runs out of work.
  asio::co_spawn(
      io,
      [&run]() -> asio::awaitable<void> {
        while (!run.finished() && Clock::now() < run.deadline + std::chrono::seconds(5)) {
          co_await sleep_until(Clock::now() + std::chrono::milliseconds(50));
        }
        if (run.scheduler) run.scheduler->shutdown();
        if (run.slack_sim) run.slack_sim->shutdown();
      }(),
      rethrow);
  io.run();
  run.summary.wall_s = run.now_s();
  run.summary.time_limit_hit = Clock::now() >= run.deadline;
  return run.summary;
}

}  // namespace tracker::loadtest
