#pragma once
// What a scenario run measured, by label, and the forms it is written in: the JMeter summary
// table (markdown and CSV), a JMeter-style per-sample CSV, JSON, a per-interval time series and
// gnuplot PNGs of latency and throughput over time.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../slack_load/report.hpp"  // Cause, Row, fixed, ProcessUsage

namespace tracker::loadtest {

struct TimedSample {
  double due_s = 0;      // intended send time, seconds from the run's start
  float latency_ms = 0;  // from the intended send time (no coordinated omission)
  std::uint32_t bytes_sent = 0;
  std::uint32_t bytes_received = 0;
  std::uint16_t label = 0;
  std::uint16_t status = 0;
  Cause cause = Cause::kNone;
  std::uint32_t detail = 0;  // index into Results::details (0: none), for Cause::kOther

  [[nodiscard]] bool ok() const { return cause == Cause::kNone && status >= 200 && status < 300; }
};

// One interval of the time series for one label, by intended send time.
struct Interval {
  double start_s = 0;
  std::int64_t sent = 0;
  std::int64_t failed = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
};

class Results {
 public:
  explicit Results(std::vector<std::string> labels);

  std::uint16_t label(const std::string& name) const;
  const std::vector<std::string>& labels() const { return labels_; }
  void add(const TimedSample& sample) { samples_.push_back(sample); }
  // A failure that is not a socket error ("posts_missing: 3 of 200 posted").
  std::uint32_t detail(const std::string& text);
  void not_sent(std::uint16_t label, std::int64_t count) { not_sent_[label] += count; }
  const std::vector<TimedSample>& samples() const { return samples_; }

  [[nodiscard]] Row row(std::uint16_t label) const;
  [[nodiscard]] std::map<std::string, std::int64_t> failure_causes(std::uint16_t label) const;
  // Intervals of `width_s` over the run, per label; width chosen so a run has at most 600.
  [[nodiscard]] double interval_width() const;
  [[nodiscard]] std::vector<Interval> series(std::uint16_t label, double width_s) const;

  [[nodiscard]] std::string table_markdown() const;
  [[nodiscard]] std::string table_csv() const;
  [[nodiscard]] nlohmann::json json() const;
  // timeStamp (ms since the epoch, intended send time), elapsed, label, responseCode,
  // responseMessage, success, failureMessage, bytes, sentBytes: the columns of JMeter's CSV
  // result file that apply, so JMeter's own report tools can read it.
  [[nodiscard]] std::string samples_csv(std::int64_t start_unix_ms) const;
  [[nodiscard]] std::string series_csv() const;

 private:
  std::string cause_text(const TimedSample& s) const;

  std::vector<std::string> labels_;
  std::vector<TimedSample> samples_;
  std::map<std::uint16_t, std::int64_t> not_sent_;
  std::vector<std::string> details_{""};
  std::map<std::string, std::uint32_t> detail_index_;
};

// Reads a result file in JMeter's CSV format (this tool's samples.csv, or JMeter's own with the
// columns timeStamp, elapsed, label, responseCode, success and optionally failureMessage, bytes,
// sentBytes), times taken from `start_unix_ms` (0: the earliest timeStamp). Labels keep their
// order of first appearance. Throws std::invalid_argument naming the line that is malformed.
Results read_samples_csv(const std::string& text, std::int64_t start_unix_ms);

// Helpers of the files loadgen writes (results and resources alike):
// a CSV field, quoted when it holds a comma, a quote or a line break;
std::string csv(const std::string& text);
// `text` into `path`, replacing it; false when it could not be written;
bool write_file(const std::string& path, const std::string& text);
// a gnuplot string literal in single quotes (a quote is doubled).
std::string gp(const std::string& text);

// Writes plot.gp and the data it reads into `dir`, then runs gnuplot to draw latency.png and
// throughput.png. Returns an empty string, or why the plots were not drawn.
std::string draw_plots(const Results& results, const std::string& dir, const std::string& title);

}  // namespace tracker::loadtest
