#pragma once
// How a metric is declared: one call per family or per unlabelled series, rather than
// prometheus-cpp's builder chain (BuildX().Name().Help().Register(), then .Add()) at every site.
// The name, help text, labels and buckets reach the registry exactly as given.
//
// Header-only on prometheus-cpp alone (target tracker::metrics_declare), so that every library
// declares its metrics this way, tracker::http included: tracker::metrics itself sits above http,
// whose server answers the ops endpoint.
#include <span>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tracker::metrics {

// Families, for metrics with labels: a series is added as its label values turn up
// (family.Add({{"outcome", "ok"}}), and for a histogram its buckets with it).
inline prometheus::Family<prometheus::Counter>& counters(prometheus::Registry& registry,
                                                         const std::string& name,
                                                         const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

inline prometheus::Family<prometheus::Gauge>& gauges(prometheus::Registry& registry,
                                                     const std::string& name,
                                                     const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

inline prometheus::Family<prometheus::Histogram>& histograms(prometheus::Registry& registry,
                                                             const std::string& name,
                                                             const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

// A metric without labels: its family's one series.
inline prometheus::Counter& counter(prometheus::Registry& registry, const std::string& name,
                                    const std::string& help) {
  return counters(registry, name, help).Add({});
}

inline prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return gauges(registry, name, help).Add({});
}

inline prometheus::Histogram& histogram(prometheus::Registry& registry, const std::string& name,
                                        const std::string& help,
                                        const prometheus::Histogram::BucketBoundaries& buckets) {
  return histograms(registry, name, help).Add({}, buckets);
}

// A label value read from outside (a request header, a server's error code): the value itself when
// it is one of `known`, `when_empty` when it is empty, and "other" for anything else, so that text
// nobody vetted cannot add a time series per distinct value.
constexpr std::string_view known_or_other(std::string_view value,
                                          std::span<const std::string_view> known,
                                          std::string_view when_empty) noexcept {
  if (value.empty()) return when_empty;
  for (const std::string_view k : known) {
    if (value == k) return k;
  }
  return "other";
}

// Bucket sets that more than one metric uses (upper bounds, in seconds).

// From a record's timestamp to the end of its handling, when that handling waits on a model or on
// Slack's rate limits (a summary's job, a message's delivery): 50 ms to a quarter of an hour.
inline const prometheus::Histogram::BucketBoundaries kEndToEndBuckets{
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900};

}  // namespace tracker::metrics
