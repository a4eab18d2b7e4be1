// loadgen: runs a load scenario (loadtest/scenarios/*.json) against the pipeline on this
// machine and reports it as JMeter does, per label, with "scheduler trigger" timed from each
// trigger to the last Slack post it led to.
//
//   SLACK_SIGNING_SECRET=... TRACKER_ADMIN_TOKEN=... loadgen --scenario loadtest/scenarios/sc2.json
//       --ingest 127.0.0.1:8080 --scheduler 127.0.0.1:9466 --slack-sim 127.0.0.1:8090
//       [--scale 0.1] [--out DIR] [--team T...] [--dry-run]
//
// Exit status: 0 when the run was measured (whatever its error rate), 2 for a usage or setup
// error.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <tracker/config/number.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "engine.hpp"
#include "event_body.hpp"
#include "options.hpp"
#include "resources.hpp"
#include "results.hpp"
#include "scenario.hpp"
#include "signer.hpp"
#include "wire.hpp"

namespace lt = tracker::loadtest;

namespace {

constexpr const char* kUsage = R"(usage: loadgen --scenario FILE --ingest HOST:PORT [options]

Runs a load scenario against services on this machine (loopback addresses only) and prints the
JMeter summary table per label. Latencies run from each request's intended send time.

  --scenario FILE      a scenario (loadtest/scenarios/*.json)
  --ingest ADDR        ingest's HTTP address, 127.0.0.1:PORT
  --path PATH          Events API path on ingest (default /slack/events)
  --scheduler ADDR     the scheduler's ops address, for POST /trigger (scenarios with triggers)
  --slack-sim ADDR     the Slack simulator, whose posts time the triggers (scenarios with triggers)
  --scale F            multiply every duration and count by F (0 < F <= 1) for a quick run
  --team ID            the Slack team the events come from (default TLG<run id>: a new team per
                       run, so a trigger summarises this run's people only)
  --out DIR            where to write summary.csv, samples.csv, series.csv, result.json and the
                       plots (default loadtest/out/<scenario>-<run id>)
  --progress-every S   a progress line every S seconds on stderr (default 10; 0: none)
  --prometheus ADDR    the Prometheus that scrapes the services, 127.0.0.1:PORT: after the run,
                       their CPU, memory, open connections, requests in flight and consumer lag
                       over it go into resources.csv, resources.png and the summary's peaks
  --prometheus-run RUN only the targets with this run label (what run_scenarios.py registers)
  --process NAME=PID   a process without metrics (the broker, PostgreSQL's postmaster) whose CPU
                       and memory, with its direct children's, are read from /proc each second
                       during the run; repeatable
  --dry-run            print what the scenario will do, and stop
  --replot DIR         draw DIR's plots again from its samples.csv (or a JMeter CSV result file
                       there), print its table, and stop
  --help

Environment: SLACK_SIGNING_SECRET (ingest's signing secret), TRACKER_ADMIN_TOKEN (the scheduler's
bearer token, for scenarios with triggers). Neither is ever printed.
Exit status: 0 when the run was measured, whatever its error rate; 2 for a usage or setup error.
)";

struct Options {
  std::string scenario;
  std::string ingest;
  std::string path = "/slack/events";
  std::string scheduler;
  std::string slack_sim;
  double scale = 1;
  std::string team;
  std::string out;
  long progress_every = 10;
  bool dry_run = false;
  std::string replot;
  std::string prometheus;
  std::string prometheus_run;
  std::vector<std::pair<std::string, int>> processes;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    }
    if (arg == "--dry-run") {
      o.dry_run = true;
      continue;
    }
    if (i + 1 >= argc) throw lt::UsageError(std::string(arg) + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--scenario") {
      o.scenario = value;
    } else if (arg == "--ingest") {
      o.ingest = value;
    } else if (arg == "--path") {
      if (!value.starts_with('/')) throw lt::UsageError("--path must start with /");
      o.path = value;
    } else if (arg == "--scheduler") {
      o.scheduler = value;
    } else if (arg == "--slack-sim") {
      o.slack_sim = value;
    } else if (arg == "--prometheus") {
      static_cast<void>(lt::parse_loopback_target(value));  // loopback only, or a usage error
      o.prometheus = value;
    } else if (arg == "--prometheus-run") {
      if (value.empty() || value.size() > 64 ||
          value.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
              std::string::npos) {
        throw lt::UsageError("--prometheus-run takes letters, digits, - and _ (got " + value + ")");
      }
      o.prometheus_run = value;
    } else if (arg == "--process") {
      const auto equals = value.find('=');
      std::string error;
      const auto pid = equals == std::string::npos
                           ? std::nullopt
                           : tracker::config::parse_number(
                                 "--process PID", value.substr(equals + 1), 1, 4194304, error);
      if (equals == 0 || !pid) {
        throw lt::UsageError("--process wants NAME=PID (got " + value + ")" +
                             (error.empty() ? "" : ": " + error));
      }
      o.processes.emplace_back(value.substr(0, equals), *pid);
    } else if (arg == "--scale") {
      std::string error;
      const auto scale = tracker::config::parse_number("--scale", value, 0.0, 1.0, error);
      if (!scale) throw lt::UsageError(error);
      if (*scale <= 0) throw lt::UsageError("--scale: must be above 0 (got " + value + ")");
      o.scale = *scale;
    } else if (arg == "--team") {
      if (value.empty() || value.size() > 32 ||
          value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != std::string::npos) {
        throw lt::UsageError("--team must be 1-32 upper-case letters and digits (got " + value +
                             ")");
      }
      o.team = value;
    } else if (arg == "--out") {
      if (value.find('\'') != std::string::npos) throw lt::UsageError("--out must not contain '");
      o.out = value;
    } else if (arg == "--replot") {
      if (value.find('\'') != std::string::npos)
        throw lt::UsageError("--replot must not contain '");
      o.replot = value;
    } else if (arg == "--progress-every") {
      std::string error;
      const auto every =
          tracker::config::parse_number("--progress-every (seconds)", value, 0L, 3600L, error);
      if (!every) throw lt::UsageError(error);
      o.progress_every = *every;
    } else {
      throw lt::UsageError("unknown option " + std::string(arg));
    }
  }
  if (!o.replot.empty()) return o;
  if (o.scenario.empty()) throw lt::UsageError("--scenario is required");
  if (o.ingest.empty() && !o.dry_run) throw lt::UsageError("--ingest is required");
  return o;
}

// /proc samples of the processes given with --process, once a second until stopped.
class ProcessSampler {
 public:
  explicit ProcessSampler(const std::vector<std::pair<std::string, int>>& processes)
      : processes_(processes), samples_(processes.size()) {
    if (processes_.empty()) return;
    started_ = std::chrono::steady_clock::now();
    thread_ = std::jthread([this](const std::stop_token& stop) {
      while (!stop.stop_requested()) {
        sample();
        for (int i = 0; i < 10 && !stop.stop_requested(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });
  }
  // Stops sampling; CPU (% of a core) and memory (MiB) series per process.
  std::vector<lt::ResourceSeries> finish(double offset_s) {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
      sample();
    }
    std::vector<lt::ResourceSeries> out;
    for (std::size_t i = 0; i < processes_.size(); ++i) {
      std::vector<std::pair<double, double>> cpu;
      lt::ResourceSeries rss{
          .group = "rss", .name = processes_[i].first, .unit = "MiB", .points = {}};
      for (const auto& [t, usage] : samples_[i]) {
        cpu.emplace_back(t - offset_s, usage.cpu_s);
        rss.points.emplace_back(t - offset_s, usage.rss_bytes / (1024.0 * 1024.0));
      }
      out.push_back(lt::cpu_percent(processes_[i].first, cpu));
      out.push_back(std::move(rss));
    }
    return out;
  }

 private:
  void sample() {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    for (std::size_t i = 0; i < processes_.size(); ++i) {
      if (auto usage = lt::process_tree_usage(processes_[i].second)) {
        samples_[i].emplace_back(t, *usage);
      }
    }
  }

  std::vector<std::pair<std::string, int>> processes_;
  std::vector<std::vector<std::pair<double, lt::TreeUsage>>> samples_;
  std::chrono::steady_clock::time_point started_;
  std::jthread thread_;
};

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The services' resources over [start, end] from Prometheus's query_range, a point each 2 s.
std::vector<lt::ResourceSeries> prometheus_resources(const std::string& address,
                                                     const std::string& run, double start_unix_s,
                                                     double end_unix_s) {
  const auto endpoint = lt::parse_loopback_target(address);
  const std::string selector = "job=~\"ingest|worker|scheduler|summarizer|notifier\"" +
                               (run.empty() ? std::string() : ",run=\"" + run + "\"");
  struct Query {
    std::string group, label, name, unit, expr;
    double scale;
  };
  const std::vector<Query> queries = {
      {"cpu", "job", "", "% of a core",
       "sum by (job) (rate(process_cpu_seconds_total{" + selector + "}[10s]))", 100},
      {"rss", "job", "", "MiB", "sum by (job) (process_resident_memory_bytes{" + selector + "})",
       1.0 / (1024 * 1024)},
      {"http", "job", "open connections", "connections",
       "sum by (job) (tracker_http_open_connections{" + selector + "})", 1},
      {"http", "job", "in flight", "requests",
       "sum by (job) (tracker_http_requests_in_flight{" + selector + "})", 1},
      {"lag", "", "worker", "messages",
       "sum(tracker_worker_consumer_lag_messages{" + selector + "})", 1},
      {"lag", "", "summarizer", "messages",
       "sum(tracker_summarizer_consumer_lag_messages{" + selector + "})", 1},
      {"lag", "", "notifier", "messages",
       "sum(tracker_notifier_consumer_lag_messages{" + selector + "})", 1},
  };
  std::vector<lt::ResourceSeries> out;
  for (const auto& q : queries) {
    const std::string target = "/api/v1/query_range?query=" + url_encode(q.expr) +
                               "&start=" + lt::fixed(start_unix_s, 3) +
                               "&end=" + lt::fixed(end_unix_s, 3) + "&step=2";
    const auto got = tracker::testkit::blocking_get(endpoint.address().to_string(), endpoint.port(),
                                                    target, std::chrono::seconds(10));
    if (got.status != 200) {
      throw std::runtime_error("Prometheus at " + address + " answered " +
                               std::to_string(got.status) + " to " + q.expr);
    }
    auto series =
        lt::parse_query_range(got.body, q.group, q.label, q.name, q.unit, q.scale, start_unix_s);
    out.insert(out.end(), std::make_move_iterator(series.begin()),
               std::make_move_iterator(series.end()));
  }
  return out;
}

bool write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) std::fprintf(stderr, "loadgen: could not write %s\n", path.c_str());
  return static_cast<bool>(out);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw lt::UsageError("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// --replot: the table and plots of an earlier run, from its samples.csv.
int replot(const std::string& dir) {
  std::int64_t start_ms = 0;
  std::string title = std::filesystem::path(dir).filename().string();
  if (std::filesystem::exists(std::filesystem::path(dir) / "result.json")) {
    const auto result = nlohmann::json::parse(read_file(std::filesystem::path(dir) / "result.json"),
                                              nullptr, false);
    if (result.is_object()) {
      start_ms = result.value("started_unix_ms", std::int64_t{0});
      title = result.value("scenario", title);
      const double scale = result.value("scale", 1.0);
      if (scale != 1) title += " (scale " + lt::fixed(scale, 3) + ")";
    }
  }
  lt::Results results({});
  try {
    results = lt::read_samples_csv(read_file(std::filesystem::path(dir) / "samples.csv"), start_ms);
  } catch (const std::invalid_argument& e) {
    throw lt::UsageError(dir + "/samples.csv: " + e.what());
  }
  std::printf("%s", results.table_markdown().c_str());
  const std::string plots = lt::draw_plots(results, dir, title);
  if (!plots.empty()) {
    std::printf("plots not drawn: %s\n", plots.c_str());
    return 2;
  }
  std::printf("drawn: %s/latency.png, %s/throughput.png\n", dir.c_str(), dir.c_str());
  return 0;
}

int run(const Options& options) {
  if (!options.replot.empty()) return replot(options.replot);
  lt::Scenario scenario = lt::scaled(lt::load_scenario(options.scenario), options.scale);
  const std::string run_id = lt::make_run_id();
  const std::string team = options.team.empty() ? "TLG" + run_id : options.team;
  std::printf("loadgen %s%s, run %s, team %s\n%s", scenario.name.c_str(),
              options.scale == 1 ? "" : (" at scale " + lt::fixed(options.scale, 3)).c_str(),
              run_id.c_str(), team.c_str(), lt::describe(scenario).c_str());
  if (options.dry_run) return 0;

  lt::Targets targets;
  targets.ingest = lt::parse_loopback_target(options.ingest);
  targets.path = options.path;
  targets.team = team;
  if (scenario.triggers) {
    if (options.scheduler.empty() || options.slack_sim.empty()) {
      throw lt::UsageError("the scenario has triggers: --scheduler and --slack-sim are required");
    }
    targets.scheduler = lt::parse_loopback_target(options.scheduler);
    targets.slack_sim = lt::parse_loopback_target(options.slack_sim);
    const char* token = std::getenv("TRACKER_ADMIN_TOKEN");
    if (token == nullptr || *token == '\0') {
      throw lt::UsageError("TRACKER_ADMIN_TOKEN is required (the scheduler's /trigger token)");
    }
    targets.admin_token = token;
  }
  const char* secret = std::getenv("SLACK_SIGNING_SECRET");
  if (secret == nullptr || *secret == '\0') {
    throw lt::UsageError("SLACK_SIGNING_SECRET is required (ingest's signing secret)");
  }
  long connections = 0;
  for (const auto& p : scenario.phases) connections += p.connections.to;
  if (!lt::raise_descriptor_limit(connections, "loadgen")) return 2;

  const std::filesystem::path out =
      options.out.empty() ? std::filesystem::path("loadtest/out") / (scenario.name + "-" + run_id)
                          : std::filesystem::path(options.out);
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) throw lt::UsageError("cannot create " + out.string() + ": " + ec.message());

  const lt::SlackSigner signer(secret);
  const lt::EventFactory events(run_id, scenario.users, lt::unix_now(),
                                {.team = team, .channels = scenario.channels});
  std::vector<std::string> labels;
  for (const auto& p : scenario.phases) {
    if (std::find(labels.begin(), labels.end(), p.label) == labels.end()) labels.push_back(p.label);
  }
  if (scenario.triggers) {
    labels.push_back("POST /trigger");
    labels.push_back(scenario.triggers->label);
  }
  lt::Results results(labels);
  std::fflush(stdout);

  const auto before = lt::process_usage();
  ProcessSampler sampler(options.processes);
  const double started_unix_s = static_cast<double>(lt::unix_now());
  const lt::RunSummary summary = lt::run_scenario(
      scenario, targets, signer, events, results,
      [&](const std::string& line) {
        if (options.progress_every > 0) std::fprintf(stderr, "  %s\n", line.c_str());
      },
      std::chrono::seconds(options.progress_every > 0 ? options.progress_every : 3600));
  const auto after = lt::process_usage();
  std::vector<lt::ResourceSeries> resources = sampler.finish(0);
  std::string resources_problem;
  if (!options.prometheus.empty()) {
    // A last scrape after the run ends (Prometheus scrapes every 2 s locally).
    std::this_thread::sleep_for(std::chrono::seconds(3));
    try {
      auto services = prometheus_resources(options.prometheus, options.prometheus_run,
                                           started_unix_s, static_cast<double>(lt::unix_now()));
      resources.insert(resources.begin(), std::make_move_iterator(services.begin()),
                       std::make_move_iterator(services.end()));
    } catch (const std::exception& e) {
      resources_problem = e.what();
    }
  }

  std::string report = "\n" + results.table_markdown();
  report +=
      "\nTimes in ms from each request's intended send time (nearest-rank percentiles over every "
      "sample, failed ones included, as JMeter does); throughput per second over first intended "
      "send to last response; KB = 1024 bytes.\n";
  if (scenario.triggers) {
    report += "\"" + scenario.triggers->label +
              "\": from the trigger's intended time to the last Slack post of the summaries it "
              "claimed; \"POST /trigger\": the scheduler's answer to it.\n";
  }
  for (std::uint16_t l = 0; l < results.labels().size(); ++l) {
    const auto causes = results.failure_causes(l);
    if (!causes.empty())
      report += "failures of \"" + results.labels()[l] + "\": " + lt::counts_line(causes) + "\n";
  }
  const double cpu = (after.user_s - before.user_s) + (after.system_s - before.system_s);
  report += "connections: " + std::to_string(summary.connects) + " opened, at most " +
            std::to_string(summary.peak_connections) +
            " open at once; connect failures before "
            "a request: " +
            lt::counts_line(summary.connect_failures) + "\n";
  report += "client: CPU " + lt::fixed(cpu, 2) + " s over " + lt::fixed(summary.wall_s, 1) +
            " s (" + lt::fixed(summary.wall_s > 0 ? 100 * cpu / summary.wall_s : 0, 0) +
            "% of one core), peak RSS " + lt::fixed(after.peak_rss_mib, 1) + " MiB\n";
  if (summary.time_limit_hit) {
    report += "the time limit (" + lt::fixed(scenario.time_limit_s, 0) +
              " s) ended the run before everything finished\n";
  }
  if (!resources.empty()) {
    report +=
        "\nResources during the run (peaks; the series are in resources.csv and "
        "resources.png):\n\n" +
        lt::resource_peaks_markdown(resources);
  }
  if (!resources_problem.empty())
    report += "resources from Prometheus: " + resources_problem + "\n";
  std::printf("%s", report.c_str());

  const auto start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(summary.started.time_since_epoch())
          .count();
  nlohmann::json document = results.json();
  document["scenario"] = scenario.name;
  document["scale"] = options.scale;
  document["run_id"] = run_id;
  document["team"] = team;
  document["started_unix_ms"] = start_ms;
  document["wall_s"] = summary.wall_s;
  document["time_limit_hit"] = summary.time_limit_hit;
  document["connections"] = {{"opened", summary.connects},
                             {"peak_open", summary.peak_connections},
                             {"connect_failures", summary.connect_failures}};
  document["client"] = {{"cpu_s", cpu}, {"peak_rss_mib", after.peak_rss_mib}};
  bool written = write(out / "summary.md", report) &&
                 write(out / "summary.csv", results.table_csv()) &&
                 write(out / "samples.csv", results.samples_csv(start_ms)) &&
                 write(out / "series.csv", results.series_csv()) &&
                 write(out / "result.json", document.dump(2) + "\n") &&
                 (resources.empty() || write(out / "resources.csv", lt::resources_csv(resources)));
  if (!written) return 2;
  if (!resources.empty()) {
    const std::string drawn = lt::draw_resource_plots(resources, out.string(), scenario.name);
    std::printf("%s\n",
                drawn.empty()
                    ? ("written: " + out.string() + "/{resources.csv,resources.png}").c_str()
                    : ("resources not drawn: " + drawn).c_str());
  }
  const std::string plots = lt::draw_plots(
      results, out.string(),
      scenario.name + (options.scale == 1 ? "" : " (scale " + lt::fixed(options.scale, 3) + ")"));
  std::printf("written: %s/{summary.md,summary.csv,samples.csv,series.csv,result.json%s}\n",
              out.c_str(), plots.empty() ? ",latency.png,throughput.png" : "");
  if (!plots.empty()) std::printf("plots not drawn: %s\n", plots.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const lt::UsageError& e) {
    std::fprintf(stderr, "loadgen: %s (--help for usage)\n", e.what());
  } catch (const lt::ScenarioError& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
  }
  return 2;
}
