#include "report.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace tracker::loadtest {
namespace {

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::string fixed(double value, int decimals) {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  return text.data();
}

std::string counts_line(const std::map<std::string, std::int64_t>& counts) {
  if (counts.empty()) return "none";
  std::string line;
  for (const auto& entry : counts) {
    if (!line.empty()) line += ", ";
    line += entry.first + " " + std::to_string(entry.second);
  }
  return line;
}

void Row::set_latencies(std::vector<double> latencies) {
  if (latencies.empty()) return;
  std::sort(latencies.begin(), latencies.end());
  double sum = 0;
  for (double l : latencies) sum += l;
  average = sum / static_cast<double>(latencies.size());
  min = latencies.front();
  max = latencies.back();
  median = percentile(latencies, 0.50);
  p90 = percentile(latencies, 0.90);
  p95 = percentile(latencies, 0.95);
  p99 = percentile(latencies, 0.99);
}

const char* cause_name(Cause cause) {
  switch (cause) {
    case Cause::kNone: return "none";
    case Cause::kConnectRefused: return "connect_refused";
    case Cause::kReset: return "reset";
    case Cause::kBrokenPipe: return "broken_pipe";
    case Cause::kClosedByServer: return "closed_by_server";
    case Cause::kTimeout: return "timeout";
    case Cause::kTimeLimit: return "time_limit";
    case Cause::kNoEphemeralPort: return "no_ephemeral_port";
    case Cause::kFdLimit: return "fd_limit";
    case Cause::kOther: return "other";
  }
  return "other";
}

ProcessUsage process_usage() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto tv = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {.user_s = tv(usage.ru_utime),
          .system_s = tv(usage.ru_stime),
          .peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0};  // ru_maxrss is KiB
}

Report::Report(RunInfo info, const std::vector<WorkerRecord>& workers) : info_(std::move(info)) {
  auto first = Clock::time_point::max();
  auto last = Clock::time_point::min();
  auto first_begun = Clock::time_point::max();
  auto last_begun = Clock::time_point::min();
  double start_lag_sum_ms = 0;
  std::size_t total = 0;
  for (const auto& w : workers) total += w.samples.size();
  samples_.reserve(total);
  workers_ = static_cast<std::int64_t>(workers.size());
  for (const auto& w : workers) {
    samples_.insert(samples_.end(), w.samples.begin(), w.samples.end());
    not_sent_ += w.not_sent;
    connects_ += w.connects;
    first = std::min(first, w.first_start);
    last = std::max(last, w.last_end);
    for (const auto& failure : w.connect_failures)
      connect_failures_[failure.first] += failure.second;
    for (const auto& error : w.other_errors)
      failure_causes_["other: " + error.first] += error.second;
    starts_ += w.starts;
    first_begun = std::min(first_begun, w.first_begun);
    last_begun = std::max(last_begun, w.last_begun);
    start_lag_sum_ms += w.start_lag_sum_ms;
    start_lag_max_ms_ = std::max(start_lag_max_ms_, w.start_lag_max_ms);
  }
  if (starts_ > 0) start_lag_mean_ms_ = start_lag_sum_ms / static_cast<double>(starts_);
  // n starts span n - 1 intervals, so a run that keeps its schedule exactly reports the target.
  if (starts_ > 1 && last_begun > first_begun) {
    start_span_s_ = seconds(last_begun - first_begun);
    achieved_rate_ = static_cast<double>(starts_ - 1) / start_span_s_;
  }
  if (!samples_.empty()) duration_s_ = seconds(last - first);
  double busy_ms = 0;
  for (const auto& s : samples_) {
    busy_ms += static_cast<double>(s.latency_ms);
    if (s.status != 0) ++status_codes_[s.status];
    if (s.cause != Cause::kNone && s.cause != Cause::kOther) ++failure_causes_[cause_name(s.cause)];
    if (s.cause == Cause::kNone && !s.ok()) ++failure_causes_["http_" + std::to_string(s.status)];
  }
  if (not_sent_ > 0) failure_causes_["not_sent"] = not_sent_;
  if (duration_s_ > 0) mean_in_flight_ = busy_ms / 1000.0 / duration_s_;
}

Row Report::row(const std::string& label, bool ok_only) const {
  Row r{.label = label};
  std::vector<double> latencies;
  latencies.reserve(samples_.size());
  double sent = 0;
  double received = 0;
  for (const auto& s : samples_) {
    if (ok_only && !s.ok()) continue;
    latencies.push_back(static_cast<double>(s.latency_ms));
    sent += s.bytes_sent;
    received += s.bytes_received;
    if (!s.ok()) ++r.failures;
  }
  r.samples = static_cast<std::int64_t>(latencies.size());
  if (!ok_only) {
    r.samples += not_sent_;
    r.failures += not_sent_;
  }
  const auto responses = static_cast<double>(latencies.size());
  r.set_latencies(std::move(latencies));
  if (duration_s_ > 0) {
    r.throughput = responses / duration_s_;
    r.received_kb_s = received / 1024.0 / duration_s_;
    r.sent_kb_s = sent / 1024.0 / duration_s_;
  }
  return r;
}

std::string Report::markdown() const {
  std::vector<Row> rows{row(info_.label, false)};
  if (rows[0].failures > 0 && rows[0].failures < rows[0].samples)
    rows.push_back(row(info_.label + " (2xx only)", true));
  const bool paced = info_.target_rate > 0;
  std::string out;
  if (paced) {
    out += "rate-paced (open model): target " + fixed(info_.target_rate, 1) +
           " requests/s, achieved " + fixed(achieved_rate_, 1) + " (" + std::to_string(starts_) +
           " requests started over " + fixed(start_span_s_, 2) + " s); started behind schedule " +
           fixed(start_lag_mean_ms_, 2) + " ms on average, " + fixed(start_lag_max_ms_, 2) +
           " ms at most; latency runs from each request's scheduled send time\n\n";
  }
  out +=
      "| Label | # Samples | # Failures | Error % | Average | Min | Max | Median | 90% Line | "
      "95% Line | 99% Line | Throughput | Received KB/sec | Sent KB/sec |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    out += "| " + r.label + " | " + std::to_string(r.samples) + " | " + std::to_string(r.failures) +
           " | " + fixed(r.error_pct(), 2) + "%";
    for (double ms : {r.average, r.min, r.max, r.median, r.p90, r.p95, r.p99}) {
      out += " | " + fixed(ms, 2);
    }
    out += " | " + fixed(r.throughput, 1) + " | " + fixed(r.received_kb_s, 2) + " | " +
           fixed(r.sent_kb_s, 2) + " |\n";
  }
  out +=
      "\nTimes in ms (nearest-rank percentiles over every request sent, failed ones included, as "
      "JMeter does); throughput in requests/s over " +
      fixed(duration_s_, 2) + " s; KB = 1024 bytes.\n";
  std::map<std::string, std::int64_t> statuses;
  for (const auto& code : status_codes_) statuses[std::to_string(code.first)] = code.second;
  out += "failures by cause: " + counts_line(failure_causes_) +
         "; status codes: " + counts_line(statuses) + "\n";
  const double cpu = info_.usage.user_s + info_.usage.system_s;
  out += "client: CPU " + fixed(cpu, 2) + " s (user " + fixed(info_.usage.user_s, 2) + ", system " +
         fixed(info_.usage.system_s, 2) +
         ") = " + (info_.wall_s > 0.01 ? fixed(100.0 * cpu / info_.wall_s, 0) : std::string("?")) +
         "% of one core over " + fixed(info_.wall_s, 2) + " s; peak RSS " +
         fixed(info_.usage.peak_rss_mib, 1) + " MiB; " + std::to_string(info_.threads) +
         (info_.threads == 1 ? " thread\n" : " threads\n");
  out += "connections: " + std::to_string(info_.connections) +
         (info_.keepalive ? " keep-alive, " : " without keep-alive, ") + std::to_string(connects_) +
         " connects";
  if (info_.connect_phase_s > 0) {
    std::int64_t failed = 0;
    for (const auto& failure : connect_failures_) failed += failure.second;
    out += "; opened before the first request in " + fixed(info_.connect_phase_s, 2) + " s (" +
           std::to_string(workers_ - failed) +
           " open, connect failures: " + counts_line(connect_failures_) + ")";
  }
  out += paced ? "; requests outstanding (in flight or waiting for a connection) on average "
               : "; requests in flight on average ";
  out += fixed(mean_in_flight_, 0) + "\n";
  if (info_.time_limit_hit) out += "the time limit ended the run before every request finished\n";
  return out;
}

nlohmann::json Report::json() const {
  const Row all = row(info_.label, false);
  const Row ok = row(info_.label, true);
  const auto latency = [](const Row& r) {
    return nlohmann::json{{"average", r.average}, {"min", r.min}, {"max", r.max},
                          {"median", r.median},   {"p90", r.p90}, {"p95", r.p95},
                          {"p99", r.p99}};
  };
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& code : status_codes_) statuses[std::to_string(code.first)] = code.second;
  nlohmann::json out = {
      {"label", info_.label},
      {"target", info_.target},
      {"path", info_.path},
      {"connections", info_.connections},
      {"requests", info_.requests},
      {"keepalive", info_.keepalive},
      {"threads", info_.threads},
      {"duration_s", duration_s_},
      {"samples", all.samples},
      {"failures", all.failures},
      {"error_pct", all.error_pct()},
      {"latency_ms", latency(all)},
      {"latency_ms_2xx_only", ok.samples == 0 ? nlohmann::json(nullptr) : latency(ok)},
      {"throughput_rps", all.throughput},
      {"received_kb_s", all.received_kb_s},
      {"sent_kb_s", all.sent_kb_s},
      {"failures_by_cause", failure_causes_},
      {"status_codes", statuses},
      {"connects", connects_},
      {"connect_phase_s", info_.connect_phase_s},
      {"wall_s", info_.wall_s},
      {"connect_failures", connect_failures_},
      {"mean_in_flight", mean_in_flight_},
      {"time_limit_hit", info_.time_limit_hit},
      {"client",
       {{"cpu_user_s", info_.usage.user_s},
        {"cpu_system_s", info_.usage.system_s},
        {"peak_rss_mib", info_.usage.peak_rss_mib}}},
  };
  // Only paced runs carry these, so a closed-model run's JSON stays as it always was.
  if (info_.target_rate > 0) {
    out["target_rate_rps"] = info_.target_rate;
    out["achieved_rate_rps"] = achieved_rate_;
    out["start_lag_ms"] = {{"mean", start_lag_mean_ms_}, {"max", start_lag_max_ms_}};
  }
  return out;
}

}  // namespace tracker::loadtest
