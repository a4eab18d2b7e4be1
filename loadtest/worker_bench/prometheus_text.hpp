#pragma once
// Reading what a service's /metrics says (the Prometheus text format), for benchmarks.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tracker::loadtest {

// The value of the unlabelled sample `name`, or nullopt.
std::optional<double> sample(const std::string& text, const std::string& name);
// The sum of every sample of `name` whatever its labels (0 when there is none).
double sum_of(const std::string& text, const std::string& name);

// A histogram's buckets as scraped: (upper bound, cumulative count), in order, +Inf last.
using Buckets = std::vector<std::pair<double, double>>;

Buckets buckets_of(const std::string& text, const std::string& name);
// What was observed between two scrapes of the same histogram.
Buckets difference(Buckets after, const Buckets& before);
// The q-quantile, interpolated linearly inside the bucket it falls in, as PromQL's
// histogram_quantile does; one beyond the last finite bound is reported as that bound. nullopt
// for an empty histogram.
std::optional<double> quantile(const Buckets& buckets, double q);
// The upper bound of the highest bucket holding an observation: how bad the worst one was.
double worst_bound(const Buckets& buckets);

}  // namespace tracker::loadtest
