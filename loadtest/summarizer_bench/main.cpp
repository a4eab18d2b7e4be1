// summarizer-bench: the daily run at scale. N people are due at once; the scheduler claims and
// publishes them in one tick (timed), then the summarizer binary writes every summary through
// the OpenAI simulator under its RPM/TPM limits.
//
//   tick s     = the scheduler's tick with N due (claims, N publishes acknowledged, marks);
//   bound s    = the least time the simulator's limits allow: its buckets start full (a minute's
//                worth), so max over requests ((N - RPM) / RPM per s) and tokens ((T - TPM) /
//                TPM per s), plus one median latency for the last answer; T is what the
//                requests counted against TPM (the simulator's own estimate);
//   wall s     = from the summarizer's start (every request already in the topic) to the last
//                job done;
//   ratio      = bound / wall: 1.0 is as fast as the limits let anyone go;
//   calls/job  = chat completion requests / jobs.
//
// Needs the local stack (KAFKA_BROKERS, DATABASE_URL). Loopback only; bounded by --time-limit.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <tracker/config/number.hpp>
#include <tracker/kafka/admin.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/pg/migrations.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/schema/migrations.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include <tracker/scheduler/scheduler.hpp>
#include "../common/scratch_database.hpp"
#include "../worker_bench/child_process.hpp"
#include "openai_simulator.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string summarizer;
  int users = 10'000;
  int logs_each = 2;
  double rpm = 3'000;
  double tpm = 1'000'000;
  double latency_median_ms = 1'500;
  double latency_p99_ms = 4'000;
  double inject_429 = 0;
  double inject_500 = 0;
  int max_in_flight = 256;
  int max_completion_tokens = 200;
  bool tick_only = false;
  std::vector<std::string> summarizer_env;
  double time_limit_s = 900;
  std::string label = "run";
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "summarizer-bench: " << message << "\n"
            << "usage: summarizer-bench --summarizer PATH [--users N] [--logs-each N]\n"
               "  [--rpm R] [--tpm T] [--latency-median-ms N] [--latency-p99-ms N]\n"
               "  [--inject-429 P] [--inject-500 P] [--max-in-flight N]\n"
               "  [--max-completion-tokens N] [--tick-only 1] [--summarizer-env NAME=VALUE]...\n"
               "  [--time-limit S] [--label TEXT]\n";
  std::exit(2);
}

double number(const std::string& flag, const std::string& text) {
  std::string error;
  if (auto value = tracker::config::parse_number(flag, text, 0.0, 1e12, error)) return *value;
  usage_error(error);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(flag + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (flag == "--summarizer")
      o.summarizer = value;
    else if (flag == "--users")
      o.users = static_cast<int>(number(flag, value));
    else if (flag == "--logs-each")
      o.logs_each = static_cast<int>(number(flag, value));
    else if (flag == "--rpm")
      o.rpm = number(flag, value);
    else if (flag == "--tpm")
      o.tpm = number(flag, value);
    else if (flag == "--latency-median-ms")
      o.latency_median_ms = number(flag, value);
    else if (flag == "--latency-p99-ms")
      o.latency_p99_ms = number(flag, value);
    else if (flag == "--inject-429")
      o.inject_429 = number(flag, value);
    else if (flag == "--inject-500")
      o.inject_500 = number(flag, value);
    else if (flag == "--max-in-flight")
      o.max_in_flight = static_cast<int>(number(flag, value));
    else if (flag == "--max-completion-tokens")
      o.max_completion_tokens = static_cast<int>(number(flag, value));
    else if (flag == "--tick-only")
      o.tick_only = number(flag, value) != 0;
    else if (flag == "--summarizer-env")
      o.summarizer_env.push_back(value);
    else if (flag == "--time-limit")
      o.time_limit_s = number(flag, value);
    else if (flag == "--label")
      o.label = value;
    else
      usage_error("unknown option " + flag);
  }
  if (o.summarizer.empty() && !o.tick_only) usage_error("--summarizer is required");
  if (o.users < 1 || o.max_in_flight < 1) usage_error("--users and --max-in-flight must be >= 1");
  if (o.rpm <= 0 || o.tpm <= 0)
    usage_error("the limits must be > 0: the bound is computed from them");
  return o;
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string env_or_die(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    usage_error(std::string(name) + " is not set (eval \"$(bash deploy/local/stack.sh env)\")");
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string brokers = env_or_die("KAFKA_BROKERS");
  const std::string database_url = env_or_die("DATABASE_URL");
  const std::string id =
      std::to_string(::getpid()) + "_" +
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000);
  const std::string schema = "bench_summarizer_" + id;
  std::string topic = "bench-summary-" + id;
  std::replace(topic.begin(), topic.end(), '_', '-');
  const std::string outbox = topic + ".outbox";
  const std::string dlq = topic + ".dlq";

  tracker::loadtest::Database db(database_url);
  tracker::kafka::Admin admin(brokers);
  if (auto ec = admin.create_topics({{.name = topic, .partitions = 6},
                                     {.name = outbox, .partitions = 6},
                                     {.name = dlq, .partitions = 1}},
                                    30s)) {
    std::cerr << "summarizer-bench: create topics: " << ec.message() << "\n";
    return 1;
  }
  auto cleanup = [&] {
    db.value("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    static_cast<void>(admin.delete_topics({topic, outbox, dlq}, 30s));
  };
  tracker::log::Logger logger(
      {.service = "summarizer-bench", .min_level = tracker::log::Level::error});

  // The schema and N people due now (summary hour 00:00 UTC), each with logs in the period.
  asio::io_context io;
  {
    const tracker::pg::ConnectOptions connect{.conninfo = database_url};
    const tracker::pg::MigrationOptions migration{.schema = schema};
    bool migrated = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto c = co_await tracker::pg::Connection::connect(io.get_executor(), connect);
          if (!c) co_return;
          auto report =
              co_await tracker::pg::migrate(**c, tracker::schema::migrations(), migration);
          migrated = report.has_value();
        },
        asio::detached);
    io.run();
    io.restart();
    if (!migrated) {
      std::cerr << "summarizer-bench: migrations failed\n";
      cleanup();
      return 1;
    }
  }
  const std::string n = std::to_string(o.users);
  db.value("SET search_path TO " + schema +
           "; INSERT INTO users (team_id, user_id, time_zone, summary_hour) "
           "SELECT 'T0BENCH', 'U' || lpad(g::text, 6, '0'), 'UTC', 0 FROM generate_series(1, " +
           n +
           ") AS g; INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, "
           "posted_at, version_at, duration_minutes, topics) "
           "SELECT 'T0BENCH', 'U' || lpad(g::text, 6, '0'), 'C0BENCH', "
           "(1700000000 + g * 100 + k)::text || '.000100', 'Ev' || g || '_' || k, "
           "'Kafka consumer groups and rebalancing, 1h30m #kafka #cpp', "
           "date_trunc('day', now()) - interval '6 hours' + k * interval '1 hour', now(), 90, "
           "'{kafka,cpp}' FROM generate_series(1, " +
           n + ") AS g, generate_series(1, " + std::to_string(o.logs_each) +
           ") AS k; ANALYZE users; ANALYZE study_logs");

  // One tick with N due, then one with nothing due.
  tracker::scheduler::TickReport tick;
  tracker::scheduler::TickReport idle_tick;
  double tick_cpu = 0;  // this process's CPU (the scheduler code and librdkafka's threads)
  {
    prometheus::Registry registry;
    tracker::pg::Pool pool(
        io.get_executor(),
        {.connect = {.conninfo = database_url, .search_path = schema}, .max_connections = 2},
        logger);
    tracker::kafka::Producer producer(
        {.brokers = brokers, .client_id = "summarizer-bench", .topics = {topic}}, logger);
    std::this_thread::sleep_for(1s);  // topic metadata, as a running scheduler has it
    tracker::scheduler::SchedulerOptions options;
    options.topic = topic;
    options.instance = "bench";
    tracker::scheduler::Scheduler scheduler(io.get_executor(), pool, producer, registry, logger,
                                            options);
    bool ok = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const double cpu_before = process_cpu_seconds();
          auto first = co_await scheduler.tick(std::chrono::system_clock::now());
          tick_cpu = process_cpu_seconds() - cpu_before;
          auto second = co_await scheduler.tick(std::chrono::system_clock::now());
          ok = first && second;
          if (first) tick = *first;
          if (second) idle_tick = *second;
        },
        asio::detached);
    io.run();
    io.restart();
    if (!ok || tick.published != static_cast<std::uint64_t>(o.users)) {
      std::cerr << "summarizer-bench: the tick did not publish every job (" << tick.published
                << ")\n";
      cleanup();
      return 1;
    }
  }
  std::cout << std::fixed << std::setprecision(3);
  std::cout << "| label | due | claimed | published | tick s | scheduler CPU s | claim s | "
               "publish s | mark s | sweep s | idle tick s |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            << "| " << o.label << " | " << o.users << " | " << tick.claimed << " | "
            << tick.published << " | " << tick.seconds << " | " << tick_cpu << " | "
            << tick.claim_seconds << " | " << tick.publish_seconds << " | " << tick.mark_seconds
            << " | " << tick.sweep_seconds << " | " << idle_tick.seconds << " |\n\n";
  if (o.tick_only) {
    cleanup();
    return 0;
  }

  tracker::loadtest::OpenAiSimulatorThread openai({.requests_per_minute = o.rpm,
                                                   .tokens_per_minute = o.tpm,
                                                   .latency_median_ms = o.latency_median_ms,
                                                   .latency_p99_ms = o.latency_p99_ms,
                                                   .inject_429_rate = o.inject_429,
                                                   .inject_500_rate = o.inject_500,
                                                   .seed = 7});
  const std::uint16_t ops_port = tracker::testkit::free_loopback_port();
  std::vector<std::string> env = {
      "DATABASE_URL=" + database_url,
      "TRACKER_DB_SCHEMA=" + schema,
      "TRACKER_SUMMARIZER_TOPIC=" + topic,
      "TRACKER_SUMMARIZER_GROUP=" + schema,
      "TRACKER_SUMMARIZER_OUTBOX_TOPIC=" + outbox,
      "TRACKER_SUMMARIZER_DLQ_TOPIC=" + dlq,
      "TRACKER_SUMMARIZER_MAX_IN_FLIGHT=" + std::to_string(o.max_in_flight),
      "TRACKER_SUMMARIZER_MAX_QUEUED=" + std::to_string(std::max(1'000, o.max_in_flight * 4)),
      "TRACKER_OPENAI_MAX_CONNECTIONS=" + std::to_string(o.max_in_flight),
      "TRACKER_OPENAI_MAX_COMPLETION_TOKENS=" + std::to_string(o.max_completion_tokens),
      "TRACKER_OPENAI_REQUESTS_PER_MINUTE=" + std::to_string(static_cast<long long>(o.rpm)),
      "TRACKER_OPENAI_TOKENS_PER_MINUTE=" + std::to_string(static_cast<long long>(o.tpm)),
      "OPENAI_API_KEY=sk-simulated",
      "OPENAI_BASE_URL=" + openai.base_url(),
      "TRACKER_OPS_ADDRESS=127.0.0.1",
      "TRACKER_OPS_PORT=" + std::to_string(ops_port),
      "TRACKER_LOG_LEVEL=error"};
  env.insert(env.end(), o.summarizer_env.begin(), o.summarizer_env.end());
  const pid_t summarizer = tracker::loadtest::spawn(o.summarizer, env);
  const auto started = Clock::now();
  const auto deadline =
      started + std::chrono::milliseconds{static_cast<long long>(o.time_limit_s * 1000)};
  long long done = 0;
  long long failed = 0;
  auto last_report = Clock::now();
  while (Clock::now() < deadline) {
    const auto counts = db.value(
        "SELECT count(*) FILTER (WHERE state = 'done') || ' ' || "
        "count(*) FILTER (WHERE state = 'failed') FROM " +
        schema + ".summary_jobs");
    if (counts) {
      const auto space = counts->find(' ');
      done = std::stoll(counts->substr(0, space));
      failed = std::stoll(counts->substr(space + 1));
    }
    if (done + failed >= o.users) break;
    std::this_thread::sleep_for(200ms);
    if (Clock::now() - last_report > 15s) {
      std::cerr << "  " << done << "/" << o.users << " done, " << failed << " failed\n";
      last_report = Clock::now();
    }
  }
  const double wall = std::chrono::duration<double>(Clock::now() - started).count();
  const double cpu = tracker::loadtest::cpu_seconds(summarizer);
  const double rss = tracker::loadtest::peak_rss_mib(summarizer);
  tracker::loadtest::stop(summarizer);

  const auto stats = openai.simulator().stats();
  // What the simulator counted against TPM: prompt estimate + max_completion_tokens each.
  const auto prompt_per_call = stats.completed > 0 ? static_cast<double>(stats.prompt_tokens) /
                                                         static_cast<double>(stats.completed)
                                                   : 0.0;
  const double tokens = static_cast<double>(o.users) * (prompt_per_call + o.max_completion_tokens);
  const double by_requests = std::max(0.0, o.users - o.rpm) / (o.rpm / 60.0);
  const double by_tokens = std::max(0.0, tokens - o.tpm) / (o.tpm / 60.0);
  const double bound = std::max(by_requests, by_tokens) + o.latency_median_ms / 1000.0;
  const std::uint64_t limit_429 = stats.limit_429_requests + stats.limit_429_tokens;
  std::cout << std::setprecision(2);
  std::cout
      << "| label | jobs | limits | latency median/p99 ms | injected 429/500 | done | failed | "
         "wall s | bound s (binding) | ratio | calls | calls/job | 429 limit (req/tok) | "
         "429 injected | summarizer CPU s | peak RSS MiB |\n"
         "|---|---:|---|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|\n"
      << "| " << o.label << " | " << o.users << " | " << o.rpm << " RPM, " << o.tpm << " TPM | "
      << o.latency_median_ms << " / " << o.latency_p99_ms << " | " << o.inject_429 * 100 << " % / "
      << o.inject_500 * 100 << " % | " << done << " | " << failed << " | " << wall << " | " << bound
      << " (" << (by_tokens > by_requests ? "tokens" : "requests") << ") | " << bound / wall
      << " | " << stats.completions << " | " << static_cast<double>(stats.completions) / o.users
      << " | " << stats.limit_429_requests << " / " << stats.limit_429_tokens << " | "
      << stats.injected_429 << " | " << cpu << " | " << rss << " |\n";
  std::cout << "\n(" << limit_429 << " limit 429s; " << std::setprecision(0) << prompt_per_call
            << " prompt tokens a call by the simulator's estimate)\n";
  cleanup();
  return done == o.users ? 0 : 1;
}
