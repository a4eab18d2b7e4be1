// worker-bench: how fast the worker turns slack-events records into committed study_logs rows.
//
//   worker-bench --worker build/services/worker/worker [--run BATCH:EVENTS[:POISON]]...
//                [--users N] [--partitions N] [--time-limit S]
//
// For each run: a fresh topic is filled with EVENTS envelopes exactly as ingest publishes them
// (Slack `message` events, signed-body shape of slack-load's factory), then the worker binary is
// started on it with TRACKER_BATCH_MAX_EVENTS=BATCH, its own consumer group and its own database
// schema, and the committed events are counted every 20 ms (from the worker's counters, which
// load the database not at all) until all EVENTS are there; the rows are counted in the database
// at the end. Throughput is measured from the first committed row to the last, so the consumer
// group's join and the migrations are left out (they are reported separately as "first row after").
// The worker's CPU time and peak RSS come from /proc, its mean batch and transaction time from its
// own /metrics.
//
// POISON (a percentage, default 0) makes that share of the records, spread evenly among the
// others, something other than an envelope (what a misconfigured producer would write): the
// worker must send each to the dead-letter topic, and the rate counts every record finished
// (stored, skipped as a duplicate, or dead-lettered), from the worker's counters as well.
//
//   worker-bench --worker PATH --latency RATE:EVENTS --ingest PATH --load PATH
//
// Latency: the worker and ingest run on a fresh topic, and slack-load sends EVENTS Slack-signed
// requests to ingest at RATE per second (open model). Once every row is committed, the worker's
// tracker_worker_received_to_commit_seconds histogram (from ingest receiving the request to the
// row's commit, so ingest's own acknowledgement time is included) gives p50 / p90 / p99,
// interpolated inside its buckets, next to slack-load's table for ingest.
// Runs against the local stack only (KAFKA_BROKERS, DATABASE_URL); every run is bounded by
// --time-limit and cleans up its topics, schema and processes.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <libpq-fe.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <tracker/config/number.hpp>
#include <tracker/kafka/admin.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/kafka/send_all.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "../common/scratch_database.hpp"
#include "../slack_load/event_body.hpp"
#include "child_process.hpp"
#include "prometheus_text.hpp"

namespace {

namespace asio = boost::asio;
using namespace tracker::loadtest;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct RunSpec {
  int batch = 0;
  std::size_t events = 0;
  int poison = 0;  // percent of the records that are not envelopes
};

struct Options {
  std::string worker;
  std::vector<RunSpec> runs;
  std::optional<RunSpec> latency;  // batch field: the rate
  std::optional<RunSpec> outage;   // batch field: seconds PostgreSQL is down
  std::string stack = "deploy/local/stack.sh";
  std::string ingest;
  std::string load;
  std::vector<std::string> worker_env;  // --env NAME=VALUE, for the worker, after the bench's own
  int users = 500;
  int partitions = 6;
  double time_limit_s = 300;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(
      stderr,
      "worker-bench: %s\nusage: worker-bench --worker PATH [--run BATCH:EVENTS[:POISON]]... "
      "[--users N] [--partitions N] [--time-limit S] [--env TRACKER_X=V]...\n"
      "       worker-bench --worker PATH --latency RATE:EVENTS --ingest PATH --load PATH\n"
      "       worker-bench --worker PATH --outage SECONDS:EVENTS [--stack PATH]\n",
      message.c_str());
  std::exit(2);
}

long parse_long(const std::string& name, const std::string& text, long low, long high) {
  std::string error;
  if (auto value = tracker::config::parse_number(name, text, low, high, error)) return *value;
  usage_error(error);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--worker") {
      o.worker = value;
    } else if (flag == "--run") {
      const auto colon = value.find(':');
      if (colon == std::string::npos) {
        usage_error("--run takes BATCH:EVENTS[:POISON], not \"" + value + "\"");
      }
      const auto second = value.find(':', colon + 1);
      const std::string events = value.substr(colon + 1, second - colon - 1);
      o.runs.push_back(
          {static_cast<int>(parse_long("--run BATCH", value.substr(0, colon), 1, 10'000)),
           static_cast<std::size_t>(parse_long("--run EVENTS", events, 1, 5'000'000)),
           second == std::string::npos
               ? 0
               : static_cast<int>(parse_long("--run POISON", value.substr(second + 1), 0, 100))});
    } else if (flag == "--latency") {
      const auto colon = value.find(':');
      if (colon == std::string::npos) usage_error("--latency takes RATE:EVENTS");
      o.latency = RunSpec{
          static_cast<int>(parse_long("--latency RATE", value.substr(0, colon), 1, 100'000)),
          static_cast<std::size_t>(
              parse_long("--latency EVENTS", value.substr(colon + 1), 1, 5'000'000))};
    } else if (flag == "--outage") {
      const auto colon = value.find(':');
      if (colon == std::string::npos) usage_error("--outage takes SECONDS:EVENTS");
      o.outage =
          RunSpec{static_cast<int>(parse_long("--outage SECONDS", value.substr(0, colon), 1, 600)),
                  static_cast<std::size_t>(
                      parse_long("--outage EVENTS", value.substr(colon + 1), 1, 5'000'000))};
    } else if (flag == "--stack") {
      o.stack = value;
    } else if (flag == "--ingest") {
      o.ingest = value;
    } else if (flag == "--load") {
      o.load = value;
    } else if (flag == "--env") {
      if (!value.starts_with("TRACKER_") || value.find('=') == std::string::npos) {
        usage_error("--env takes TRACKER_NAME=VALUE, not \"" + value + "\"");
      }
      o.worker_env.push_back(value);
    } else if (flag == "--users") {
      o.users = static_cast<int>(parse_long(flag, value, 1, 9'999));
    } else if (flag == "--partitions") {
      o.partitions = static_cast<int>(parse_long(flag, value, 1, 64));
    } else if (flag == "--time-limit") {
      o.time_limit_s = static_cast<double>(parse_long(flag, value, 1, 3'600));
    } else {
      usage_error("unknown option " + flag);
    }
  }
  if (o.worker.empty()) usage_error("--worker is required");
  if (o.latency && (o.ingest.empty() || o.load.empty() || !o.runs.empty())) {
    usage_error("--latency needs --ingest and --load, and does not combine with --run");
  }
  if (o.runs.empty()) o.runs = {{1, 20'000}, {100, 200'000}, {1'000, 200'000}};
  return o;
}

std::string env_or_die(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    usage_error(std::string(name) + " is not set (eval \"$(bash deploy/local/stack.sh env)\")");
  }
  return value;
}

std::string http_get(std::uint16_t port, const char* target) {
  return tracker::testkit::blocking_get("127.0.0.1", port, target).body;
}

using tracker::loadtest::Database;

// One run's names: topic (and its .dlq), consumer group, database schema.
struct Scratch {
  std::string topic;
  std::string schema;
  std::string group;
};

Scratch scratch_names(const std::string& run_id, const std::string& suffix) {
  std::string lower = run_id;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  const std::string base = "bench_worker_" + lower + "_" + suffix;
  std::string topic = base;
  std::replace(topic.begin(), topic.end(), '_', '-');
  return {topic, base, base};
}

void create_topics(tracker::kafka::Admin& admin, const Scratch& names, int partitions) {
  if (auto ec = admin.create_topics({{.name = names.topic, .partitions = partitions},
                                     {.name = names.topic + ".dlq", .partitions = 1}},
                                    30s)) {
    throw std::runtime_error("create topic: " + ec.message());
  }
}

pid_t start_worker(const Options& options, const Scratch& names, int batch,
                   std::uint16_t ops_port) {
  std::vector<std::string> env = {"TRACKER_DB_SCHEMA=" + names.schema,
                                  "TRACKER_WORKER_TOPIC=" + names.topic,
                                  "TRACKER_WORKER_DLQ_TOPIC=" + names.topic + ".dlq",
                                  "TRACKER_WORKER_GROUP=" + names.group,
                                  "TRACKER_OPS_ADDRESS=127.0.0.1",
                                  "TRACKER_OPS_PORT=" + std::to_string(ops_port),
                                  "TRACKER_BATCH_MAX_EVENTS=" + std::to_string(batch),
                                  "TRACKER_LOG_LEVEL=warn"};
  env.insert(env.end(), options.worker_env.begin(), options.worker_env.end());
  return spawn(options.worker, env);
}

Clock::duration limit(const Options& options) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.time_limit_s));
}

// Finished records, as the worker counts them: events committed (stored, any kind of change,
// plus duplicates) and records dead-lettered. Read from its /metrics, which costs the database
// nothing (counting rows every few milliseconds would load the very server being measured).
std::optional<std::size_t> committed_events(std::uint16_t ops_port) {
  const std::string text = http_get(ops_port, "/metrics");
  if (text.empty()) return std::nullopt;
  return static_cast<std::size_t>(sum_of(text, "tracker_worker_events_stored_total") +
                                  sum_of(text, "tracker_worker_events_duplicate_total") +
                                  sum_of(text, "tracker_worker_dead_letters_total"));
}

// Polls every 20 ms until `expected` events are committed or the deadline passes.
struct Progress {
  std::optional<Clock::time_point> first_at;  // the first count above zero
  std::size_t first_count = 0;
  Clock::time_point last_at;
  double cpu_at_first = 0;
  bool complete = false;
};

Progress wait_for_rows(std::uint16_t ops_port, std::size_t expected, pid_t worker,
                       Clock::time_point deadline) {
  Progress progress;
  while (Clock::now() < deadline) {
    const std::size_t count = committed_events(ops_port).value_or(0);
    const auto now = Clock::now();
    if (count > 0 && !progress.first_at) {
      progress.first_at = now;
      progress.first_count = count;
      progress.cpu_at_first = cpu_seconds(worker);
    }
    if (count >= expected) {
      progress.last_at = now;
      progress.complete = true;
      break;
    }
    if (waitpid(worker, nullptr, WNOHANG) == worker) throw std::runtime_error("the worker exited");
    std::this_thread::sleep_for(20ms);
  }
  return progress;
}

void clean_up(Database& db, tracker::kafka::Admin& admin, const Scratch& names) {
  db.value("DROP SCHEMA IF EXISTS " + names.schema + " CASCADE");
  admin.delete_topics({names.topic, names.topic + ".dlq"}, 30s);
}

struct RunResult {
  RunSpec spec;
  std::size_t stored = 0;
  double feed_s = 0;
  double first_row_s = 0;  // from the worker's start
  double drain_s = 0;      // first committed row to the last
  double events_per_s = 0;
  std::size_t drained = 0;  // events committed between the first row and the last
  double cpu_s = 0;         // the worker's, over the same span
  double rss_mib = 0;
  double mean_batch = 0;
  double mean_transaction_ms = 0;
  std::size_t poison = 0;        // records fed that are not envelopes
  std::size_t dead_letters = 0;  // acknowledged by the dead-letter topic, as the worker counts
  bool complete = false;
};

// Whether record i of a run with `percent` poison is poison: spread evenly (i * percent / 100
// steps up at each poison record).
bool poison_at(std::size_t i, int percent) {
  const auto p = static_cast<std::size_t>(percent);
  return (i + 1) * p / 100 > i * p / 100;
}

double feed(const std::string& brokers, const std::string& topic, const std::string& run_id,
            int users, std::size_t count, int poison_percent = 0) {
  // What ingest would have published for `count` Slack message events.
  const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const tracker::loadtest::EventFactory events(run_id, users, unix_now);
  asio::io_context io;
  tracker::kafka::Producer producer({.brokers = brokers, .client_id = "worker-bench"},
                                    tracker::log::null_logger());
  const auto started = Clock::now();
  auto message_at = [&](std::size_t i) {
    if (poison_at(i, poison_percent)) {
      return tracker::kafka::OutgoingMessage{
          .topic = topic,
          .key = "poison-" + std::to_string(i),
          .value = "not an envelope: record " + std::to_string(i) + " of a misconfigured producer"};
    }
    const std::string body = events.body(static_cast<std::int64_t>(i), unix_now);
    const auto request = tracker::slack::classify(body, tracker::slack::BodyFormat::json);
    const auto& callback = std::get<tracker::slack::EventCallback>(request);
    return tracker::kafka::OutgoingMessage{
        .topic = topic,
        .key = tracker::messages::partition_key(callback),
        .value = tracker::messages::make_envelope(
            callback, body, {.received_at = std::chrono::system_clock::now()})};
  };
  auto sent = asio::co_spawn(io, tracker::kafka::send_all(producer, count, message_at, 5'000),
                             asio::use_future);
  io.run();
  const auto outcome = sent.get();
  if (outcome.failed > 0) {
    throw std::runtime_error("feeding the topic: " + std::to_string(outcome.failed) +
                             " sends failed: " + outcome.first_error.message());
  }
  return std::chrono::duration<double>(Clock::now() - started).count();
}

RunResult run_one(const Options& options, const RunSpec& spec, const std::string& run_id) {
  const std::string brokers = env_or_die("KAFKA_BROKERS");
  const Scratch names =
      scratch_names(run_id, "b" + std::to_string(spec.batch) + "p" + std::to_string(spec.poison));
  tracker::kafka::Admin admin(brokers);
  create_topics(admin, names, options.partitions);
  RunResult result{.spec = spec};
  result.feed_s = feed(brokers, names.topic, run_id, options.users, spec.events, spec.poison);
  for (std::size_t i = 0; i < spec.events; ++i)
    if (poison_at(i, spec.poison)) ++result.poison;
  std::fprintf(stderr,
               "worker-bench: batch %d: %zu records (%zu poison) in %s (%.1f s); starting the "
               "worker\n",
               spec.batch, spec.events, result.poison, names.topic.c_str(), result.feed_s);

  Database db(env_or_die("DATABASE_URL"));
  const std::uint16_t ops_port = tracker::testkit::free_loopback_port();
  const auto started = Clock::now();
  const pid_t pid = start_worker(options, names, spec.batch, ops_port);
  const Progress progress = wait_for_rows(ops_port, spec.events, pid, started + limit(options));
  result.cpu_s = cpu_seconds(pid) - progress.cpu_at_first;
  result.rss_mib = peak_rss_mib(pid);
  const std::string metrics = http_get(ops_port, "/metrics");
  stop(pid);

  result.complete = progress.complete;
  result.stored =
      std::stoull(db.value("SELECT count(*) FROM " + names.schema + ".study_logs").value_or("0"));
  if (progress.first_at) {
    result.first_row_s = std::chrono::duration<double>(*progress.first_at - started).count();
    if (progress.complete) {
      result.drain_s = std::chrono::duration<double>(progress.last_at - *progress.first_at).count();
      result.drained = spec.events - progress.first_count;
      if (result.drain_s > 0) {
        result.events_per_s = static_cast<double>(result.drained) / result.drain_s;
      }
    }
  }
  result.dead_letters =
      static_cast<std::size_t>(sum_of(metrics, "tracker_worker_dead_letters_total"));
  const auto batches = sample(metrics, "tracker_worker_batch_size_count").value_or(0);
  if (batches > 0) {
    result.mean_batch = sample(metrics, "tracker_worker_batch_size_sum").value_or(0) / batches;
    result.mean_transaction_ms =
        1'000 * sample(metrics, "tracker_worker_transaction_seconds_sum").value_or(0) / batches;
  }
  clean_up(db, admin, names);
  return result;
}

int run_latency(const Options& options, const RunSpec& spec, const std::string& run_id) {
  const std::string brokers = env_or_die("KAFKA_BROKERS");
  const int rate = spec.batch;
  const Scratch names = scratch_names(run_id, "latency");
  tracker::kafka::Admin admin(brokers);
  create_topics(admin, names, options.partitions);
  Database db(env_or_die("DATABASE_URL"));
  const auto deadline = Clock::now() + limit(options);
  const auto ready = [&](std::uint16_t ops_port) {
    while (http_get(ops_port, "/readyz").find("\"status\":\"ready\"") == std::string::npos) {
      if (Clock::now() >= deadline) throw std::runtime_error("a service did not become ready");
      std::this_thread::sleep_for(100ms);
    }
  };

  // The worker with its default batching, ready (caught up with an empty topic) before the load.
  const std::uint16_t worker_ops = tracker::testkit::free_loopback_port();
  const pid_t worker = start_worker(options, names, 500, worker_ops);
  ready(worker_ops);
  char secret[33];
  std::snprintf(secret, sizeof secret, "%08x%08x%08x%08x", std::rand(), std::rand(), std::rand(),
                std::rand());
  setenv("SLACK_SIGNING_SECRET", secret, 1);
  const std::uint16_t ingest_port = tracker::testkit::free_loopback_port();
  const std::uint16_t ingest_ops = tracker::testkit::free_loopback_port();
  const pid_t ingest =
      spawn(options.ingest, {"TRACKER_INGEST_ADDRESS=127.0.0.1",
                             "TRACKER_INGEST_PORT=" + std::to_string(ingest_port),
                             "TRACKER_OPS_PORT=" + std::to_string(ingest_ops),
                             "TRACKER_INGEST_TOPIC=" + names.topic, "TRACKER_LOG_LEVEL=warn"});
  ready(ingest_ops);

  const std::string load = options.load + " --target 127.0.0.1:" + std::to_string(ingest_port) +
                           " --users " + std::to_string(options.users);
  // Warm-up, not measured: ingest's first publish waits for the topic's metadata and the
  // idempotent producer's id (about a second), which would otherwise stand in the tail.
  constexpr int kWarmUp = 100;
  const std::string warm_up = load + " --connections 1 --requests " + std::to_string(kWarmUp) +
                              " --time-limit 30 --label warm-up > /dev/null";
  if (std::system(warm_up.c_str()) != 0) throw std::runtime_error("slack-load warm-up failed");
  if (!wait_for_rows(worker_ops, kWarmUp, worker, deadline).complete) {
    throw std::runtime_error("the warm-up events were not committed");
  }
  const std::string histogram = "tracker_worker_received_to_commit_seconds";
  const Buckets before = buckets_of(http_get(worker_ops, "/metrics"), histogram);

  const double seconds = static_cast<double>(spec.events) / rate;
  const std::string command = load + " --connections 50 --requests " + std::to_string(spec.events) +
                              " --rate " + std::to_string(rate) + " --time-limit " +
                              std::to_string(static_cast<int>(seconds + 60)) +
                              " --label ingest-at-" + std::to_string(rate);
  std::fprintf(stderr, "worker-bench: %s\n", command.c_str());
  std::fflush(stdout);
  const int load_status = std::system(command.c_str());
  const Progress progress = wait_for_rows(worker_ops, kWarmUp + spec.events, worker, deadline);
  const Buckets measured =
      difference(buckets_of(http_get(worker_ops, "/metrics"), histogram), before);
  const double rss = peak_rss_mib(worker);
  stop(ingest);
  stop(worker);
  clean_up(db, admin, names);
  if (load_status != 0) throw std::runtime_error("slack-load failed");

  std::printf("\nworker: %s of %zu events committed; peak RSS %.1f MiB\n\n",
              progress.complete ? "all" : "NOT all", spec.events, rss);
  std::printf(
      "| rate /s | events | received → committed p50 ms | p90 ms | p99 ms | worst ≤ ms |\n"
      "|---:|---:|---:|---:|---:|---:|\n");
  const auto ms = [&](double q) { return 1'000 * quantile(measured, q).value_or(-1); };
  std::printf("| %d | %zu | %.1f | %.1f | %.1f | %.0f |\n", rate, spec.events, ms(0.5), ms(0.9),
              ms(0.99), 1'000 * worst_bound(measured));
  return progress.complete ? 0 : 1;
}

// PostgreSQL stopped under a backlog: the worker must pause, hold its memory, stay alive, and
// catch up once the database is back.
int run_outage(const Options& options, const RunSpec& spec, const std::string& run_id) {
  const std::string brokers = env_or_die("KAFKA_BROKERS");
  const int down_s = spec.batch;
  const Scratch names = scratch_names(run_id, "outage");
  tracker::kafka::Admin admin(brokers);
  create_topics(admin, names, options.partitions);
  feed(brokers, names.topic, run_id, options.users, spec.events);
  const auto deadline = Clock::now() + limit(options);
  const auto stack = [&](const char* command) {
    const std::string line = "bash '" + options.stack + "' " + command + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0) {
      throw std::runtime_error(std::string("stack.sh ") + command + " failed");
    }
  };

  const std::uint16_t ops_port = tracker::testkit::free_loopback_port();
  const pid_t worker = start_worker(options, names, 500, ops_port);
  // Let it start draining, then take the database away.
  if (!wait_for_rows(ops_port, 1, worker, deadline).complete) {
    throw std::runtime_error("the worker committed nothing before the outage");
  }
  stack("pg-stop");
  const auto down_at = Clock::now();
  const std::size_t before = committed_events(ops_port).value_or(0);
  const double rss_before = rss_mib(worker);
  double rss_max = rss_before;
  bool paused = false;
  bool unready = false;
  while (Clock::now() - down_at < std::chrono::seconds(down_s)) {
    rss_max = std::max(rss_max, rss_mib(worker));
    const std::string metrics = http_get(ops_port, "/metrics");
    paused = paused || sample(metrics, "tracker_worker_consumer_paused").value_or(0) == 1;
    unready =
        unready || tracker::testkit::blocking_get("127.0.0.1", ops_port, "/readyz").status == 503;
    if (waitpid(worker, nullptr, WNOHANG) == worker) {
      stack("pg-start");
      throw std::runtime_error("the worker exited during the outage");
    }
    std::this_thread::sleep_for(200ms);
  }
  const std::size_t during = committed_events(ops_port).value_or(0);
  stack("pg-start");
  const auto up_at = Clock::now();
  const Progress progress = wait_for_rows(ops_port, spec.events, worker, deadline);
  const double catch_up_s = std::chrono::duration<double>(progress.last_at - up_at).count();
  const double rss_peak = peak_rss_mib(worker);
  stop(worker);
  Database db(env_or_die("DATABASE_URL"));  // after the restart
  const std::size_t stored =
      std::stoull(db.value("SELECT count(*) FROM " + names.schema + ".study_logs").value_or("0"));
  clean_up(db, admin, names);

  std::printf(
      "| events | committed when stopped | committed while down | down s | paused | /readyz 503 "
      "| RSS before MiB | RSS max while down MiB | back up → all committed s | rows stored | "
      "peak RSS MiB |\n"
      "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|\n");
  std::printf("| %zu | %zu | %zu | %d | %s | %s | %.1f | %.1f | %.2f | %zu%s | %.1f |\n",
              spec.events, before, during - before, down_s, paused ? "yes" : "no",
              unready ? "yes" : "no", rss_before, rss_max, catch_up_s, stored,
              progress.complete ? "" : " (time limit)", rss_peak);
  return progress.complete && stored == spec.events && paused && unready ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const std::string run_id = tracker::loadtest::make_run_id();
  try {
    if (options.latency) return run_latency(options, *options.latency, run_id);
    if (options.outage) return run_outage(options, *options.outage, run_id);
    std::vector<RunResult> results;
    for (const RunSpec& spec : options.runs) results.push_back(run_one(options, spec, run_id));
    const bool any_poison = std::any_of(results.begin(), results.end(),
                                        [](const RunResult& r) { return r.spec.poison > 0; });
    if (any_poison) {
      std::printf(
          "| batch max | records | poison %% | rows stored | dead letters | first finished "
          "after s | first → last s | records/s | worker CPU µs/record | worker peak RSS MiB "
          "|\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    } else {
      std::printf(
          "| batch max | events | rows stored | first row after s | first → last row s | "
          "events/s | mean batch | mean transaction ms | worker CPU µs/event | worker peak RSS "
          "MiB |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    bool all_complete = true;
    for (const RunResult& r : results) {
      all_complete = all_complete && r.complete && r.stored == r.spec.events - r.poison &&
                     r.dead_letters == r.poison;
      const double cpu_us = r.drained > 0 ? 1e6 * r.cpu_s / static_cast<double>(r.drained) : 0.0;
      if (any_poison) {
        std::printf("| %d | %zu | %d | %zu%s | %zu | %.2f | %.2f | %.0f | %.1f | %.1f |\n",
                    r.spec.batch, r.spec.events, r.spec.poison, r.stored,
                    r.complete ? "" : " (time limit)", r.dead_letters, r.first_row_s, r.drain_s,
                    r.events_per_s, cpu_us, r.rss_mib);
      } else {
        std::printf("| %d | %zu | %zu%s | %.2f | %.2f | %.0f | %.1f | %.2f | %.1f | %.1f |\n",
                    r.spec.batch, r.spec.events, r.stored, r.complete ? "" : " (time limit)",
                    r.first_row_s, r.drain_s, r.events_per_s, r.mean_batch, r.mean_transaction_ms,
                    cpu_us, r.rss_mib);
      }
    }
    return all_complete ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "worker-bench: %s\n", error.what());
    return 1;
  }
}
