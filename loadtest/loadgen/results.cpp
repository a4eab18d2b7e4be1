#include "results.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace tracker::loadtest {

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

// A gnuplot string literal in single quotes (a quote is doubled).
std::string gp(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

namespace {

// The fields of one CSV line (quotes as csv() writes them).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

}  // namespace

Results::Results(std::vector<std::string> labels) : labels_(std::move(labels)) {}

std::uint16_t Results::label(const std::string& name) const {
  const auto it = std::find(labels_.begin(), labels_.end(), name);
  return static_cast<std::uint16_t>(it - labels_.begin());
}

std::uint32_t Results::detail(const std::string& text) {
  const auto [it, inserted] =
      detail_index_.try_emplace(text, static_cast<std::uint32_t>(details_.size()));
  if (inserted) details_.push_back(text);
  return it->second;
}

std::string Results::cause_text(const TimedSample& s) const {
  if (s.cause == Cause::kOther) return s.detail != 0 ? details_[s.detail] : "other";
  if (s.cause != Cause::kNone) return cause_name(s.cause);
  if (!s.ok()) return "http_" + std::to_string(s.status);
  return "";
}

Row Results::row(std::uint16_t label) const {
  Row r{.label = labels_[label]};
  std::vector<double> latencies;
  double sent = 0;
  double received = 0;
  double first = std::numeric_limits<double>::max();
  double last = std::numeric_limits<double>::lowest();
  for (const auto& s : samples_) {
    if (s.label != label) continue;
    latencies.push_back(static_cast<double>(s.latency_ms));
    sent += s.bytes_sent;
    received += s.bytes_received;
    if (!s.ok()) ++r.failures;
    first = std::min(first, s.due_s);
    last = std::max(last, s.due_s + static_cast<double>(s.latency_ms) / 1000.0);
  }
  const auto unsent = not_sent_.find(label);
  const std::int64_t not_sent = unsent == not_sent_.end() ? 0 : unsent->second;
  r.samples = static_cast<std::int64_t>(latencies.size()) + not_sent;
  r.failures += not_sent;
  if (latencies.empty()) return r;
  const auto responses = static_cast<double>(latencies.size());
  r.set_latencies(std::move(latencies));
  // Over first intended send to last response, as JMeter takes first start to last end.
  const double span = last - first;
  if (span > 0) {
    r.throughput = responses / span;
    r.received_kb_s = received / 1024.0 / span;
    r.sent_kb_s = sent / 1024.0 / span;
  }
  return r;
}

std::map<std::string, std::int64_t> Results::failure_causes(std::uint16_t label) const {
  std::map<std::string, std::int64_t> causes;
  for (const auto& s : samples_) {
    if (s.label == label && !s.ok()) ++causes[cause_text(s)];
  }
  const auto unsent = not_sent_.find(label);
  if (unsent != not_sent_.end() && unsent->second > 0) causes["not_sent"] = unsent->second;
  return causes;
}

double Results::interval_width() const {
  double end = 0;
  for (const auto& s : samples_) end = std::max(end, s.due_s);
  return std::max(1.0, std::ceil(end / 600.0));
}

std::vector<Interval> Results::series(std::uint16_t label, double width) const {
  std::map<std::int64_t, std::vector<double>> latencies;
  std::map<std::int64_t, std::int64_t> failed;
  for (const auto& s : samples_) {
    if (s.label != label) continue;
    const auto bucket = static_cast<std::int64_t>(std::floor(s.due_s / width));
    latencies[bucket].push_back(static_cast<double>(s.latency_ms));
    if (!s.ok()) ++failed[bucket];
  }
  std::vector<Interval> out;
  for (auto& [bucket, values] : latencies) {
    std::sort(values.begin(), values.end());
    out.push_back({.start_s = static_cast<double>(bucket) * width,
                   .sent = static_cast<std::int64_t>(values.size()),
                   .failed = failed[bucket],
                   .p50 = percentile(values, 0.50),
                   .p95 = percentile(values, 0.95),
                   .p99 = percentile(values, 0.99),
                   .max = values.back()});
  }
  return out;
}

std::string Results::table_markdown() const {
  std::string out =
      "| Label | # Samples | # Failures | Error % | Average | Min | Max | Median | 90% Line | "
      "95% Line | 99% Line | Throughput | Received KB/sec | Sent KB/sec |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (std::uint16_t l = 0; l < labels_.size(); ++l) {
    const Row r = row(l);
    if (r.samples == 0) continue;
    out += "| " + r.label + " | " + std::to_string(r.samples) + " | " + std::to_string(r.failures) +
           " | " + fixed(r.error_pct(), 2) + "%";
    for (double ms : {r.average, r.min, r.max, r.median, r.p90, r.p95, r.p99}) {
      out += " | " + fixed(ms, ms >= 100 ? 0 : 2);
    }
    out += " | " + fixed(r.throughput, r.throughput >= 10 ? 1 : 3) + " | " +
           fixed(r.received_kb_s, 2) + " | " + fixed(r.sent_kb_s, 2) + " |\n";
  }
  return out;
}

std::string Results::table_csv() const {
  std::string out =
      "label,samples,failures,error_pct,average_ms,min_ms,max_ms,median_ms,p90_ms,p95_ms,p99_ms,"
      "throughput_per_s,received_kb_per_s,sent_kb_per_s\n";
  for (std::uint16_t l = 0; l < labels_.size(); ++l) {
    const Row r = row(l);
    if (r.samples == 0) continue;
    out += csv(r.label) + "," + std::to_string(r.samples) + "," + std::to_string(r.failures) + "," +
           fixed(r.error_pct(), 3);
    for (double v : {r.average, r.min, r.max, r.median, r.p90, r.p95, r.p99, r.throughput,
                     r.received_kb_s, r.sent_kb_s}) {
      out += "," + fixed(v, 3);
    }
    out += "\n";
  }
  return out;
}

nlohmann::json Results::json() const {
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json by_label = nlohmann::json::object();
  const double width = interval_width();
  for (std::uint16_t l = 0; l < labels_.size(); ++l) {
    const Row r = row(l);
    if (r.samples == 0) continue;
    rows.push_back({{"label", r.label},
                    {"samples", r.samples},
                    {"failures", r.failures},
                    {"error_pct", r.error_pct()},
                    {"latency_ms",
                     {{"average", r.average},
                      {"min", r.min},
                      {"max", r.max},
                      {"median", r.median},
                      {"p90", r.p90},
                      {"p95", r.p95},
                      {"p99", r.p99}}},
                    {"throughput_per_s", r.throughput},
                    {"received_kb_s", r.received_kb_s},
                    {"sent_kb_s", r.sent_kb_s},
                    {"failures_by_cause", failure_causes(l)}});
    nlohmann::json points = nlohmann::json::array();
    for (const auto& i : series(l, width)) {
      points.push_back({{"start_s", i.start_s},
                        {"sent", i.sent},
                        {"failed", i.failed},
                        {"p50_ms", i.p50},
                        {"p95_ms", i.p95},
                        {"p99_ms", i.p99},
                        {"max_ms", i.max}});
    }
    by_label[r.label] = points;
  }
  return {{"rows", rows}, {"interval_s", width}, {"series", by_label}};
}

std::string Results::samples_csv(std::int64_t start_unix_ms) const {
  std::string out =
      "timeStamp,elapsed,label,responseCode,responseMessage,success,failureMessage,bytes,"
      "sentBytes\n";
  out.reserve(out.size() + samples_.size() * 80);
  for (const auto& s : samples_) {
    const auto stamp = start_unix_ms + static_cast<std::int64_t>(std::llround(s.due_s * 1000));
    const std::string cause = cause_text(s);
    out += std::to_string(stamp) + "," +
           std::to_string(static_cast<std::int64_t>(std::llround(s.latency_ms))) + "," +
           csv(labels_[s.label]) + "," + (s.status != 0 ? std::to_string(s.status) : "") + "," +
           (s.ok() ? "OK" : csv(cause)) + "," + (s.ok() ? "true" : "false") + "," + csv(cause) +
           "," + std::to_string(s.bytes_received) + "," + std::to_string(s.bytes_sent) + "\n";
  }
  return out;
}

std::string Results::series_csv() const {
  std::string out = "label,start_s,sent,failed,per_s,p50_ms,p95_ms,p99_ms,max_ms\n";
  const double width = interval_width();
  for (std::uint16_t l = 0; l < labels_.size(); ++l) {
    for (const auto& i : series(l, width)) {
      out += csv(labels_[l]) + "," + fixed(i.start_s, 1) + "," + std::to_string(i.sent) + "," +
             std::to_string(i.failed) + "," + fixed(static_cast<double>(i.sent) / width, 2) + "," +
             fixed(i.p50, 2) + "," + fixed(i.p95, 2) + "," + fixed(i.p99, 2) + "," +
             fixed(i.max, 2) + "\n";
    }
  }
  return out;
}

Results read_samples_csv(const std::string& text, std::int64_t start_unix_ms) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) throw std::invalid_argument("the file is empty");
  const auto header = csv_fields(line);
  const auto column = [&header](const std::string& name, bool required) -> long {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end() && required) {
      throw std::invalid_argument("the header has no " + name + " column");
    }
    return it == header.end() ? -1 : static_cast<long>(it - header.begin());
  };
  const long stamp_at = column("timeStamp", true), elapsed_at = column("elapsed", true),
             label_at = column("label", true), code_at = column("responseCode", true),
             success_at = column("success", true), failure_at = column("failureMessage", false),
             bytes_at = column("bytes", false), sent_at = column("sentBytes", false);
  struct Line {
    std::int64_t stamp;
    std::vector<std::string> fields;
  };
  std::vector<Line> rows;
  std::vector<std::string> labels;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    auto fields = csv_fields(line);
    if (fields.size() != header.size()) {
      throw std::invalid_argument("line " + std::to_string(number) + " has " +
                                  std::to_string(fields.size()) + " fields, the header " +
                                  std::to_string(header.size()));
    }
    std::int64_t stamp = 0;
    try {
      stamp = std::stoll(fields[static_cast<std::size_t>(stamp_at)]);
      static_cast<void>(std::stod(fields[static_cast<std::size_t>(elapsed_at)]));
    } catch (const std::exception&) {
      throw std::invalid_argument("line " + std::to_string(number) +
                                  ": timeStamp and elapsed must be numbers");
    }
    const std::string& label = fields[static_cast<std::size_t>(label_at)];
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
    rows.push_back({stamp, std::move(fields)});
  }
  if (start_unix_ms == 0 && !rows.empty()) {
    start_unix_ms = std::min_element(rows.begin(), rows.end(), [](const Line& a, const Line& b) {
                      return a.stamp < b.stamp;
                    })->stamp;
  }
  Results results(labels);
  const auto number = [](const std::vector<std::string>& f, long at) -> std::uint32_t {
    if (at < 0 || f[static_cast<std::size_t>(at)].empty()) return 0;
    try {
      return static_cast<std::uint32_t>(std::stoul(f[static_cast<std::size_t>(at)]));
    } catch (const std::exception&) {
      return 0;
    }
  };
  for (const auto& row : rows) {
    const auto& f = row.fields;
    TimedSample sample;
    sample.due_s = static_cast<double>(row.stamp - start_unix_ms) / 1000.0;
    sample.latency_ms = std::stof(f[static_cast<std::size_t>(elapsed_at)]);
    sample.label = results.label(f[static_cast<std::size_t>(label_at)]);
    sample.bytes_received = number(f, bytes_at);
    sample.bytes_sent = number(f, sent_at);
    const bool success = f[static_cast<std::size_t>(success_at)] == "true";
    const std::uint32_t code = number(f, code_at);
    sample.status = static_cast<std::uint16_t>(code <= 999 ? code : 0);
    if (!success) {
      std::string why = failure_at >= 0 ? f[static_cast<std::size_t>(failure_at)] : "";
      if (sample.status >= 200 && sample.status < 300) {
        sample.cause = Cause::kOther;
        sample.detail = results.detail(why.empty() ? "failed" : why);
      } else if (sample.status == 0) {
        sample.cause = Cause::kOther;
        sample.detail = results.detail(why.empty() ? "no response" : why);
      }
    }
    results.add(sample);
  }
  return results;
}

std::string draw_plots(const Results& results, const std::string& dir, const std::string& title) {
  const double width = results.interval_width();
  // One data file per label: start_s, per_s, failed_per_s, p50, p95, p99, max.
  struct File {
    std::string label;
    std::string name;
    bool sparse = false;  // at most one sample per interval: a point each (triggers)
    bool failures = false;
  };
  std::vector<File> files;
  for (std::uint16_t l = 0; l < results.labels().size(); ++l) {
    const auto points = results.series(l, width);
    if (points.empty()) continue;
    File file{.label = results.labels()[l], .name = "series-" + std::to_string(l) + ".dat"};
    file.sparse =
        std::all_of(points.begin(), points.end(), [](const Interval& i) { return i.sent <= 1; });
    std::string data;
    for (const auto& i : points) {
      file.failures = file.failures || i.failed > 0;
      data += fixed(i.start_s, 2) + " " + fixed(static_cast<double>(i.sent) / width, 3) + " " +
              fixed(static_cast<double>(i.failed) / width, 3) + " " +
              fixed(std::max(i.p50, 0.01), 3) + " " + fixed(std::max(i.p95, 0.01), 3) + " " +
              fixed(std::max(i.p99, 0.01), 3) + " " + fixed(std::max(i.max, 0.01), 3) + "\n";
    }
    if (!write_file(dir + "/" + file.name, data)) return "cannot write " + dir + "/" + file.name;
    files.push_back(std::move(file));
  }
  if (files.empty()) return "nothing was sent, so there is nothing to plot";

  const std::string per = width == 1 ? "second" : fixed(width, 0) + " s";
  std::string script =
      "# Drawn by loadgen from the series-*.dat files beside it: gnuplot plot.gp\n"
      "set terminal pngcairo size 1280,720 noenhanced font ',10'\n"
      "set key outside right top\nset grid\nset xlabel 'seconds from the start (intended send "
      "time)'\n";
  // Latency: median, p99 and max per interval; a sparse label (one trigger a minute) is one
  // point per sample.
  script += "set output 'latency.png'\nset title " +
            gp(title + ": latency per " + per + " (triggers: one point each)") +
            "\nset logscale y\nset ylabel 'ms (log scale)'\nplot ";
  std::string plots;
  const auto add = [&plots](const std::string& clause) {
    if (!plots.empty()) plots += ", \\\n     ";
    plots += clause;
  };
  for (const auto& f : files) {
    if (f.sparse) {
      add(gp(f.name) + " using 1:4 with linespoints pointtype 7 title " + gp(f.label));
      continue;
    }
    for (const auto& [column, name] :
         std::vector<std::pair<int, std::string>>{{4, "median"}, {6, "p99"}, {7, "max"}}) {
      add(gp(f.name) + " using 1:" + std::to_string(column) + " with lines title " +
          gp(f.label + " " + name));
    }
  }
  script += plots;
  // Throughput: requests sent per second by intended send time, and failures, for the labels
  // with more than one sample an interval; headroom above the highest so a flat line shows.
  script += "\nunset logscale y\nset output 'throughput.png'\nset title " +
            gp(title + ": requests per second (by intended send time) and failures") +
            "\nset ylabel 'per second'\nset yrange [0:*]\nset offsets 0, 0, graph 0.1, 0\nplot ";
  plots.clear();
  for (const auto& f : files) {
    if (f.sparse) continue;
    add(gp(f.name) + " using 1:2 with lines linewidth 2 title " +
        gp(f.label + (f.failures ? " sent" : " sent (no failures)")));
    if (f.failures) add(gp(f.name) + " using 1:3 with lines title " + gp(f.label + " failed"));
  }
  script += plots.empty() ? "0 notitle" : plots;
  script += "\n";
  if (!write_file(dir + "/plot.gp", script)) return "cannot write " + dir + "/plot.gp";
  const std::string command = "cd '" + dir + "' && gnuplot plot.gp 2>gnuplot.log";
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return "could not run gnuplot";
  if (WEXITSTATUS(status) == 127) {
    return "gnuplot is not installed (apt-get install gnuplot-nox; scripts/install-deps.sh does)";
  }
  if (WEXITSTATUS(status) != 0) return "gnuplot failed; see " + dir + "/gnuplot.log";
  return {};
}

}  // namespace tracker::loadtest
