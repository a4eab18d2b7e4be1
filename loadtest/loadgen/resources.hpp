#pragma once
// Resources during a load run, beside its latencies: per service (from the Prometheus that
// scraped it) CPU, resident memory, open connections, requests in flight and consumer lag, and
// for the broker and PostgreSQL (which export no metrics) CPU and memory read from /proc while
// the run goes. Written as resources.csv and resources.png, with each series' peak.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tracker::loadtest {

struct ResourceSeries {
  std::string group;  // the plot it goes in: "cpu", "rss", "http", "lag"
  std::string name;   // e.g. "ingest", "kafka", "worker lag"
  std::string unit;   // "% of a core", "MiB", "connections", "messages"
  std::vector<std::pair<double, double>> points;  // seconds from the run's start, value
};

// Prometheus's /api/v1/query_range answer as one series per result, named by `label`'s value
// (or `name` when the result has no such label), values multiplied by `scale`, times made
// relative to `start_unix_s`. Throws std::runtime_error for an answer that is not a success.
std::vector<ResourceSeries> parse_query_range(const std::string& json, const std::string& group,
                                              const std::string& label, const std::string& name,
                                              const std::string& unit, double scale,
                                              double start_unix_s);

// CPU seconds (user + system) and resident bytes of a process and its direct children (a
// PostgreSQL postmaster and its backends), from `proc_root` (/proc); nullopt if `pid` is gone.
struct TreeUsage {
  double cpu_s = 0;
  double rss_bytes = 0;
};
std::optional<TreeUsage> process_tree_usage(int pid, const std::string& proc_root = "/proc");

// One line of /proc/<pid>/stat: ppid, utime + stime in clock ticks, rss in pages; nullopt if it
// does not parse.
struct StatLine {
  int ppid = 0;
  std::uint64_t ticks = 0;
  std::int64_t rss_pages = 0;
};
std::optional<StatLine> parse_stat_line(const std::string& line);

// CPU % of a core between successive samples of cumulative CPU seconds.
ResourceSeries cpu_percent(std::string name, const std::vector<std::pair<double, double>>& cpu_s);

std::string resources_csv(const std::vector<ResourceSeries>& series);
// "| series | unit | peak | at s |" rows, one per series, for the summary.
std::string resource_peaks_markdown(const std::vector<ResourceSeries>& series);
// resources.png (four panels) from resources-*.dat beside it; "" when drawn, else why not.
std::string draw_resource_plots(const std::vector<ResourceSeries>& series, const std::string& dir,
                                const std::string& title);

}  // namespace tracker::loadtest
