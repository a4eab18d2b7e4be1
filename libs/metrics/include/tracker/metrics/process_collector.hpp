#pragma once
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace tracker::metrics {

// The standard process_* metrics of Prometheus client libraries, read from /proc/self on each
// scrape: resident and virtual memory, CPU seconds, open file descriptors, start time, threads.
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_;
};

}  // namespace tracker::metrics
