#pragma once
// What a run measured, and the JMeter "summary report" table it is printed as.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tracker::loadtest {

using Clock = std::chrono::steady_clock;

// Why a request failed; kNone for a response whose status was read (2xx or not).
enum class Cause : std::uint8_t {
  kNone,
  kConnectRefused,
  kReset,
  kBrokenPipe,
  kClosedByServer,  // the server closed the connection before a response
  kTimeout,         // --request-timeout elapsed
  kTimeLimit,       // not finished when --time-limit elapsed (status may have been read)
  kNoEphemeralPort,
  kFdLimit,
  kOther,
};
const char* cause_name(Cause cause);

struct Sample {
  float latency_ms = 0;
  std::uint32_t bytes_sent = 0;
  std::uint32_t bytes_received = 0;
  std::uint16_t status = 0;    // 0 when no response was read
  Cause cause = Cause::kNone;  // kNone also for a non-2xx response read in time

  bool ok() const { return cause == Cause::kNone && status >= 200 && status < 300; }
};

// Everything one connection worker recorded; written by that worker only.
struct WorkerRecord {
  std::vector<Sample> samples;
  std::map<std::string, std::int64_t> other_errors;  // message -> count, for Cause::kOther
  std::int64_t not_sent = 0;  // requests of its share never started before the time limit
  std::int64_t connects = 0;
  Clock::time_point first_start = Clock::time_point::max();
  Clock::time_point last_end = Clock::time_point::min();
  std::map<std::string, std::int64_t> connect_failures;  // in the connect phase, by cause
  // Paced runs (--rate) only: requests started (connect or write begun), when the first and last
  // started, and how long after its due time each started (waiting for a free connection).
  std::int64_t starts = 0;
  Clock::time_point first_begun = Clock::time_point::max();
  Clock::time_point last_begun = Clock::time_point::min();
  double start_lag_sum_ms = 0;
  double start_lag_max_ms = 0;
};

struct ProcessUsage {
  double user_s = 0;
  double system_s = 0;
  double peak_rss_mib = 0;
};
ProcessUsage process_usage();

struct RunInfo {
  std::string label;
  std::string target;
  std::string path;
  int connections = 0;
  long requests = 0;
  bool keepalive = true;
  int threads = 1;
  double target_rate = 0;      // --rate in requests/s; 0 for a closed-model run
  double connect_phase_s = 0;  // 0 when connections were opened by the requests themselves
  double wall_s = 0;           // the whole run, connect phase included
  ProcessUsage usage;          // of the run only (CPU), process peak (RSS)
  bool time_limit_hit = false;
};

// One row of JMeter's summary report: samples, failures and latencies in ms, throughput per
// second, KB (1024 bytes) received and sent per second.
struct Row {
  std::string label;
  std::int64_t samples = 0;
  std::int64_t failures = 0;
  double average = 0, min = 0, max = 0, median = 0, p90 = 0, p95 = 0, p99 = 0;
  double throughput = 0, received_kb_s = 0, sent_kb_s = 0;

  [[nodiscard]] double error_pct() const {
    return samples == 0 ? 0 : 100.0 * static_cast<double>(failures) / static_cast<double>(samples);
  }
  // Average, min, max and the nearest-rank median and 90/95/99 % lines of `latencies_ms`.
  void set_latencies(std::vector<double> latencies_ms);
};

// Nearest rank: the smallest value with at least p of the sorted samples at or below it.
double percentile(const std::vector<double>& sorted, double p);
// `value` with `decimals` digits after the point.
std::string fixed(double value, int decimals);
// "a 1, b 2", or "none".
std::string counts_line(const std::map<std::string, std::int64_t>& counts);

class Report {
 public:
  Report(RunInfo info, const std::vector<WorkerRecord>& workers);

  std::string markdown() const;
  nlohmann::json json() const;

 private:
  Row row(const std::string& label, bool ok_only) const;

  RunInfo info_;
  std::vector<Sample> samples_;
  std::int64_t not_sent_ = 0;
  std::int64_t workers_ = 0;  // connections used: --connections, or fewer if fewer requests
  std::int64_t connects_ = 0;
  double duration_s_ = 0;
  double mean_in_flight_ = 0;  // time-averaged requests in flight (sum of latencies / duration)
  // Paced runs: requests started, the rate they started at, and their lateness.
  std::int64_t starts_ = 0;
  double achieved_rate_ = 0;
  double start_span_s_ = 0;  // first request started to last
  double start_lag_mean_ms_ = 0;
  double start_lag_max_ms_ = 0;
  std::map<std::string, std::int64_t> failure_causes_;
  std::map<std::string, std::int64_t> connect_failures_;
  std::map<int, std::int64_t> status_codes_;
};

}  // namespace tracker::loadtest
