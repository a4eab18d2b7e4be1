#include "resources.hpp"

#include "results.hpp"  // csv, gp, write_file, fixed

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tracker::loadtest {

std::vector<ResourceSeries> parse_query_range(const std::string& json, const std::string& group,
                                              const std::string& label, const std::string& name,
                                              const std::string& unit, double scale,
                                              double start_unix_s) {
  const auto answer = nlohmann::json::parse(json, nullptr, false);
  if (answer.is_discarded() || answer.value("status", "") != "success") {
    throw std::runtime_error("Prometheus: " + (answer.is_discarded()
                                                   ? std::string("not JSON")
                                                   : answer.value("error", "no success")));
  }
  std::vector<ResourceSeries> out;
  for (const auto& result : answer["data"]["result"]) {
    ResourceSeries series{.group = group, .name = name, .unit = unit, .points = {}};
    if (const auto it = result["metric"].find(label); it != result["metric"].end()) {
      series.name = it->get<std::string>() + (name.empty() ? "" : " " + name);
    }
    for (const auto& value : result["values"]) {
      const double t = value[0].get<double>() - start_unix_s;
      const double v = std::strtod(value[1].get<std::string>().c_str(), nullptr) * scale;
      series.points.emplace_back(t, v);
    }
    out.push_back(std::move(series));
  }
  std::sort(out.begin(), out.end(),
            [](const ResourceSeries& a, const ResourceSeries& b) { return a.name < b.name; });
  return out;
}

std::optional<StatLine> parse_stat_line(const std::string& line) {
  // "pid (comm) state ppid ..." where comm may hold spaces and parentheses: fields after the
  // last ')'. utime and stime are fields 14 and 15, rss 24 (1-based, in the whole line).
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(line.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string field; in >> field;) fields.push_back(field);
  if (fields.size() < 22) return std::nullopt;
  // fields[0] is the state (field 3), so field n is fields[n - 3].
  StatLine stat;
  stat.ppid = std::atoi(fields[1].c_str());
  stat.ticks = std::strtoull(fields[11].c_str(), nullptr, 10) +
               std::strtoull(fields[12].c_str(), nullptr, 10);
  stat.rss_pages = std::strtoll(fields[21].c_str(), nullptr, 10);
  return stat;
}

std::optional<TreeUsage> process_tree_usage(int pid, const std::string& proc_root) {
  const auto read_stat = [&](const std::string& dir) -> std::optional<StatLine> {
    std::ifstream in(dir + "/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    return parse_stat_line(line);
  };
  const auto own = read_stat(proc_root + "/" + std::to_string(pid));
  if (!own) return std::nullopt;
  static const double ticks_per_s = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const double page_bytes = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::uint64_t ticks = own->ticks;
  std::int64_t pages = own->rss_pages;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(proc_root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (const auto child = read_stat(entry.path().string()); child && child->ppid == pid) {
      ticks += child->ticks;
      pages += child->rss_pages;
    }
  }
  return TreeUsage{.cpu_s = static_cast<double>(ticks) / ticks_per_s,
                   .rss_bytes = static_cast<double>(pages) * page_bytes};
}

ResourceSeries cpu_percent(std::string name, const std::vector<std::pair<double, double>>& cpu_s) {
  ResourceSeries series{
      .group = "cpu", .name = std::move(name), .unit = "% of a core", .points = {}};
  for (std::size_t i = 1; i < cpu_s.size(); ++i) {
    const double dt = cpu_s[i].first - cpu_s[i - 1].first;
    if (dt <= 0) continue;
    series.points.emplace_back(cpu_s[i].first,
                               100 * std::max(0.0, cpu_s[i].second - cpu_s[i - 1].second) / dt);
  }
  return series;
}

std::string resources_csv(const std::vector<ResourceSeries>& series) {
  std::string out = "group,series,unit,t_s,value\n";
  for (const auto& s : series) {
    for (const auto& [t, v] : s.points) {
      out += csv(s.group) + "," + csv(s.name) + "," + csv(s.unit) + "," + fixed(t, 2) + "," +
             fixed(v, 3) + "\n";
    }
  }
  return out;
}

std::string resource_peaks_markdown(const std::vector<ResourceSeries>& series) {
  std::string out = "| resource | unit | peak | at s |\n|---|---|---:|---:|\n";
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    const auto peak =
        std::max_element(s.points.begin(), s.points.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    out += "| " + s.group + " " + s.name + " | " + s.unit + " | " + fixed(peak->second, 1) + " | " +
           fixed(peak->first, 0) + " |\n";
  }
  return out;
}

std::string draw_resource_plots(const std::vector<ResourceSeries>& series, const std::string& dir,
                                const std::string& title) {
  const std::vector<std::pair<std::string, std::string>> panels = {
      {"cpu", "CPU, % of one core"},
      {"rss", "resident memory, MiB"},
      {"http", "open connections and requests in flight"},
      {"lag", "consumer lag, messages"}};
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      files;  // group -> (file, name)
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (series[i].points.empty()) continue;
    std::string data;
    for (const auto& [t, v] : series[i].points) data += fixed(t, 2) + " " + fixed(v, 3) + "\n";
    const std::string file = "resources-" + std::to_string(i) + ".dat";
    if (!write_file(dir + "/" + file, data)) return "cannot write " + dir + "/" + file;
    files[series[i].group].emplace_back(file, series[i].name);
  }
  if (files.empty()) return "no resource series to plot";
  std::string script =
      "# Drawn by loadgen from the resources-*.dat files beside it: gnuplot resources.gp\n"
      "set terminal pngcairo size 1600,1000 noenhanced font ',10'\n"
      "set output 'resources.png'\nset multiplot layout 2,2 title " +
      gp(title + ": resources during the run") +
      "\nset key outside right top\nset grid\nset xlabel 'seconds from the start'\n";
  for (const auto& [group, heading] : panels) {
    script += "set title " + gp(heading) + "\n";
    const auto it = files.find(group);
    if (it == files.end()) {
      script +=
          "set label 1 'no data' at graph 0.45, graph 0.5\nplot [0:1] NaN notitle\n"
          "unset label 1\n";
      continue;
    }
    std::string plots;
    for (const auto& [file, name] : it->second) {
      if (!plots.empty()) plots += ", \\\n     ";
      plots += gp(file) + " using 1:2 with lines title " + gp(name);
    }
    script += "plot " + plots + "\n";
  }
  script += "unset multiplot\n";
  if (!write_file(dir + "/resources.gp", script)) return "cannot write " + dir + "/resources.gp";
  const std::string command = "cd '" + dir + "' && gnuplot resources.gp 2>gnuplot-resources.err";
  if (std::system(command.c_str()) != 0) {
    return "gnuplot failed (is gnuplot-nox installed? see " + dir + "/gnuplot-resources.err)";
  }
  return "";
}

}  // namespace tracker::loadtest
