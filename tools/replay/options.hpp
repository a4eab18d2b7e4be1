#pragma once
// Command line of tracker-replay, checked here so that the run never meets a malformed value:
// a bad one throws UsageError (exit status 2), naming the option.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tracker::replay {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Sink { dry_run, ingest, topic };

struct Options {
  std::string topic = "slack-events";
  std::vector<std::int32_t> partitions;  // empty: every partition of the topic
  // The range: offsets (from inclusive, to exclusive) or record times (from inclusive, to
  // exclusive); what is not given runs from the beginning or to the end the topic had when the
  // run started.
  std::optional<std::int64_t> from_offset;
  std::optional<std::int64_t> to_offset;
  std::optional<std::chrono::system_clock::time_point> from_time;
  std::optional<std::chrono::system_clock::time_point> to_time;

  // Pacing: `speed` times the original spacing of the records' timestamps, or `rate` records a
  // second; neither (speed 0): as fast as the sink takes them.
  double speed = 1.0;
  double rate = 0;

  Sink sink = Sink::dry_run;
  std::string ingest_host;  // loopback only
  std::uint16_t ingest_port = 0;
  std::string ingest_path = "/slack/events";
  std::string target_topic;

  std::uint64_t max_records = 1'000'000;
  std::chrono::seconds time_limit{3'600};
  bool quiet = false;  // no progress lines
  bool help = false;
};

Options parse_options(const std::vector<std::string_view>& args);
std::string usage();

// "2026-12-01T09:00:00Z", "2026-12-01T09:00:00.250+09:00", or milliseconds since the epoch.
std::chrono::system_clock::time_point parse_time(std::string_view option, std::string_view text);

// When the record stamped `record_time` is due, given the first record's stamp and the run's
// start: `speed` times the original spacing, or the `index`-th of `rate` a second. A record
// stamped before the first is due at once.
std::chrono::steady_clock::time_point due_time(const Options& options,
                                               std::chrono::steady_clock::time_point start,
                                               std::chrono::system_clock::time_point first_time,
                                               std::chrono::system_clock::time_point record_time,
                                               std::uint64_t index);

}  // namespace tracker::replay
