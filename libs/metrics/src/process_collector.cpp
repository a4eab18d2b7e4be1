#include <tracker/metrics/process_collector.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tracker::metrics {

namespace {

prometheus::MetricFamily gauge(std::string name, std::string help, double value,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {metric}};
}

struct Stat {
  double cpu_seconds = 0;
  double threads = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

Stat read_stat() {
  Stat stat;
  std::ifstream in("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces; fields are counted after its closing ')'.
  const auto close = content.rfind(')');
  if (close == std::string::npos) return stat;
  std::istringstream fields(content.substr(close + 2));
  std::string field;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // After ')': state is field 3, utime 14, stime 15, num_threads 20, vsize 23, rss 24.
  for (int index = 3; fields >> field; ++index) {
    if (index == 14 || index == 15) stat.cpu_seconds += std::stod(field) / ticks;
    if (index == 20) stat.threads = std::stod(field);
    if (index == 23) stat.virtual_bytes = std::stod(field);
    if (index == 24) {
      stat.resident_bytes = std::stod(field) * page;
      break;
    }
  }
  return stat;
}

double open_fds() {
  std::error_code ec;
  double count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++count;
  }
  return count;
}

}  // namespace

ProcessCollector::ProcessCollector()
    : start_time_seconds_(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count()) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  const Stat stat = read_stat();
  return {
      gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            stat.cpu_seconds, prometheus::MetricType::Counter),
      gauge("process_resident_memory_bytes", "Resident memory size in bytes.", stat.resident_bytes),
      gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", stat.virtual_bytes),
      gauge("process_open_fds", "Number of open file descriptors.", open_fds()),
      gauge("process_threads", "Number of OS threads in the process.", stat.threads),
      gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.",
            start_time_seconds_),
  };
}

}  // namespace tracker::metrics
