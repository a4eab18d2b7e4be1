// pg-pool-bench: how should coroutines talk to PostgreSQL?
//
//   async   tracker::pg::Pool: libpq's non-blocking API, sockets on the io_context, one thread.
//   threads a bounded asio::thread_pool with one blocking PGconn per thread; coroutines hand
//           each query over with run_blocking (the other design the project considered).
//
// Both run the same fixed number of prepared queries from the same number of concurrent
// coroutines over the same number of connections, against DATABASE_URL (loopback only).
//
//   pg-pool-bench [--clients 64] [--connections 8] [--queries 20000] [--sleep-us 0]
#include <libpq-fe.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/config/number.hpp>
#include <tracker/pg/pool.hpp>

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
  std::string url;
  int clients = 64;
  int connections = 8;
  int queries = 20'000;
  int sleep_us = 0;  // server-side work per query, via pg_sleep
};

struct Outcome {
  std::string design;
  double seconds = 0;
  double cpu_seconds = 0;
  int threads = 0;
  std::vector<double> latencies_ms;
  int failures = 0;
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto tv = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

std::string query_text(const Settings& s) {
  if (s.sleep_us == 0) return "SELECT $1::int + 1";
  return "SELECT $1::int + 1 FROM pg_sleep(" +
         std::to_string(static_cast<double>(s.sleep_us) / 1e6) + ")";
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values[index];
}

// Splits `total` queries over `clients` coroutines, each running `body` for its share. `body`
// is a lambda coroutine whose captures its coroutines use, so it is taken by reference and
// must outlive io.run().
template <typename Body>
void spawn_clients(asio::io_context& io, const Settings& s, const Body& body) {
  for (int c = 0; c < s.clients; ++c) {
    const int share = s.queries / s.clients + (c < s.queries % s.clients ? 1 : 0);
    asio::co_spawn(io, body(share), asio::detached);
  }
}

Outcome run_async(const Settings& s) {
  Outcome out{.design = "async (libpq non-blocking on the io_context)", .threads = 1};
  asio::io_context io;
  tracker::pg::Pool pool(io.get_executor(),
                         {.connect = {.conninfo = s.url, .application_name = "pg-pool-bench"},
                          .max_connections = static_cast<std::size_t>(s.connections),
                          .acquire_timeout = std::chrono::seconds{60}},
                         tracker::log::null_logger());
  const tracker::pg::Statement statement{"bench", query_text(s)};
  // Open and prepare every connection before the clock starts, as the other design does.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::vector<tracker::pg::PooledConnection> leases;
        for (int i = 0; i < s.connections; ++i) {
          auto lease = co_await pool.acquire();
          if (!lease) throw std::runtime_error(lease.error().describe());
          static_cast<void>(co_await (*lease)->execute(statement, tracker::pg::Params{0}));
          leases.push_back(std::move(*lease));
        }
      },
      asio::detached);
  io.run();
  io.restart();
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  const auto client = [&](int share) -> asio::awaitable<void> {
    for (int i = 0; i < share; ++i) {
      const auto begin = Clock::now();
      auto lease = co_await pool.acquire();
      if (!lease) {
        ++out.failures;
        continue;
      }
      auto rows = co_await (*lease)->execute(statement, tracker::pg::Params{i});
      if (!rows) ++out.failures;
      out.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    }
  };
  spawn_clients(io, s, client);
  io.run();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  out.cpu_seconds = cpu_seconds() - cpu_before;
  return out;
}

// The alternative design: blocking libpq calls on a bounded thread pool.
class BlockingConnections {
 public:
  BlockingConnections(const Settings& s) {
    for (int i = 0; i < s.connections; ++i) {
      PGconn* conn = PQconnectdb(s.url.c_str());
      if (PQstatus(conn) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn));
      PGresult* prepared = PQprepare(conn, "bench", query_text(s).c_str(), 0, nullptr);
      PQclear(prepared);
      idle_.push_back(conn);
    }
  }
  ~BlockingConnections() {
    for (PGconn* conn : idle_) PQfinish(conn);
  }
  bool query(int value) {
    PGconn* conn = nullptr;
    {
      std::lock_guard lock(mutex_);
      conn = idle_.back();  // one connection per pool thread: never empty
      idle_.pop_back();
    }
    const std::string text = std::to_string(value);
    const char* params[] = {text.c_str()};
    PGresult* result = PQexecPrepared(conn, "bench", 1, params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
    PQclear(result);
    std::lock_guard lock(mutex_);
    idle_.push_back(conn);
    return ok;
  }

 private:
  std::mutex mutex_;
  std::vector<PGconn*> idle_;
};

Outcome run_threads(const Settings& s) {
  Outcome out{.design = "threads (blocking libpq on a thread pool)", .threads = 1 + s.connections};
  asio::io_context io;
  asio::thread_pool threads(static_cast<std::size_t>(s.connections));
  BlockingConnections connections(s);
  const double cpu_before = cpu_seconds();
  const auto start = Clock::now();
  const auto client = [&](int share) -> asio::awaitable<void> {
    for (int i = 0; i < share; ++i) {
      const auto begin = Clock::now();
      const bool ok =
          co_await tracker::async::run_blocking(threads, [&, i] { return connections.query(i); });
      if (!ok) ++out.failures;
      out.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    }
  };
  spawn_clients(io, s, client);
  io.run();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  out.cpu_seconds = cpu_seconds() - cpu_before;
  threads.join();
  return out;
}

int flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) != name) continue;
    std::string error;
    if (auto value = tracker::config::parse_number(name, argv[i + 1], 0, 1'000'000, error)) {
      return *value;
    }
    std::fprintf(stderr, "pg-pool-bench: %s\n", error.c_str());
    std::exit(2);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    std::fprintf(stderr, "DATABASE_URL: is required (eval \"$(deploy/local/stack.sh env)\")\n");
    return 2;
  }
  Settings s{.url = url,
             .clients = flag(argc, argv, "--clients", 64),
             .connections = flag(argc, argv, "--connections", 8),
             .queries = flag(argc, argv, "--queries", 20'000),
             .sleep_us = flag(argc, argv, "--sleep-us", 0)};
  if (s.clients < 1 || s.connections < 1 || s.queries < 1 || s.sleep_us < 0 ||
      s.queries > 10'000'000) {
    std::fprintf(stderr,
                 "bad arguments: clients, connections, queries must be >= 1 (queries <= 10M)\n");
    return 2;
  }
  std::printf("queries=%d clients=%d connections=%d server work per query=%dus, %u cores\n\n",
              s.queries, s.clients, s.connections, s.sleep_us, std::thread::hardware_concurrency());
  std::printf(
      "| design | threads | queries/s | p50 ms | p99 ms | max ms | CPU s | CPU us/query | failures "
      "|\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (auto outcome : {run_async(s), run_threads(s)}) {
    auto& l = outcome.latencies_ms;
    const double rate = static_cast<double>(l.size()) / outcome.seconds;
    const double p50 = percentile(l, 0.50);
    const double p99 = percentile(l, 0.99);
    const double max = l.empty() ? 0 : l.back();
    std::printf("| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f | %d |\n",
                outcome.design.c_str(), outcome.threads, rate, p50, p99, max, outcome.cpu_seconds,
                outcome.cpu_seconds * 1e6 / static_cast<double>(std::max<std::size_t>(l.size(), 1)),
                outcome.failures);
  }
  return 0;
}
