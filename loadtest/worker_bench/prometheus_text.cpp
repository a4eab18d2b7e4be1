#include "prometheus_text.hpp"

#include <cmath>
#include <limits>
#include <sstream>

namespace tracker::loadtest {

namespace {

// The number after the last space of a sample line.
double value_of(const std::string& line) {
  return std::stod(line.substr(line.rfind(' ') + 1));
}

}  // namespace

std::optional<double> sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(name + " ")) return value_of(line);
  }
  return std::nullopt;
}

double sum_of(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  double total = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with(name + " ") || line.starts_with(name + "{")) total += value_of(line);
  }
  return total;
}

Buckets buckets_of(const std::string& text, const std::string& name) {
  Buckets buckets;
  std::istringstream lines(text);
  std::string line;
  const std::string prefix = name + "_bucket{le=\"";
  while (std::getline(lines, line)) {
    if (!line.starts_with(prefix)) continue;
    const auto close = line.find('"', prefix.size());
    const std::string bound = line.substr(prefix.size(), close - prefix.size());
    const double upper =
        bound == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(bound);
    buckets.emplace_back(upper, value_of(line));
  }
  return buckets;
}

Buckets difference(Buckets after, const Buckets& before) {
  for (std::size_t i = 0; i < after.size() && i < before.size(); ++i) {
    after[i].second -= before[i].second;
  }
  return after;
}

std::optional<double> quantile(const Buckets& buckets, double q) {
  if (buckets.empty() || buckets.back().second <= 0) return std::nullopt;
  const double rank = q * buckets.back().second;
  double lower = 0;
  double below = 0;
  for (const auto& [upper, cumulative] : buckets) {
    if (cumulative >= rank) {
      if (std::isinf(upper)) return lower;
      const double in_bucket = cumulative - below;
      return in_bucket > 0 ? lower + (upper - lower) * (rank - below) / in_bucket : upper;
    }
    lower = upper;
    below = cumulative;
  }
  return std::nullopt;
}

double worst_bound(const Buckets& buckets) {
  double previous = 0;
  double bound = 0;
  for (const auto& [upper, cumulative] : buckets) {
    if (cumulative > previous) bound = upper;
    previous = cumulative;
  }
  return bound;
}

}  // namespace tracker::loadtest
