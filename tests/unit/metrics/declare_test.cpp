// Declared metrics reach the registry with the name, help text, type and buckets they were given.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <tracker/metrics/declare.hpp>

namespace {

using prometheus::MetricType;

// The family the registry reports under `name`; fails the test when there is none.
prometheus::MetricFamily collected(const prometheus::Registry& registry, const std::string& name) {
  for (prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name) return family;
  }
  ADD_FAILURE() << "no family " << name << " in the registry";
  return {};
}

bool reported(const prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name) return true;
  }
  return false;
}

std::vector<double> upper_bounds(const prometheus::ClientMetric& metric) {
  std::vector<double> bounds;
  for (const auto& bucket : metric.histogram.bucket) bounds.push_back(bucket.upper_bound);
  return bounds;
}

std::vector<double> with_infinity(std::vector<double> bounds) {
  bounds.push_back(std::numeric_limits<double>::infinity());
  return bounds;
}

}  // namespace

TEST(DeclareTest, AGaugeIsOneUnlabelledSeriesWithItsNameAndHelp) {
  prometheus::Registry registry;
  prometheus::Gauge& gauge =
      tracker::metrics::gauge(registry, "t_in_flight", "Requests in flight (now)");
  gauge.Set(3);

  const prometheus::MetricFamily family = collected(registry, "t_in_flight");
  EXPECT_EQ(family.help, "Requests in flight (now)");
  EXPECT_EQ(family.type, MetricType::Gauge);
  ASSERT_EQ(family.metric.size(), 1U);
  EXPECT_TRUE(family.metric[0].label.empty());
  EXPECT_EQ(family.metric[0].gauge.value, 3);
}

TEST(DeclareTest, ACounterIsOneUnlabelledSeriesWithItsNameAndHelp) {
  prometheus::Registry registry;
  tracker::metrics::counter(registry, "t_posted_total", "Messages posted").Increment(2);

  const prometheus::MetricFamily family = collected(registry, "t_posted_total");
  EXPECT_EQ(family.help, "Messages posted");
  EXPECT_EQ(family.type, MetricType::Counter);
  ASSERT_EQ(family.metric.size(), 1U);
  EXPECT_TRUE(family.metric[0].label.empty());
  EXPECT_EQ(family.metric[0].counter.value, 2);
}

TEST(DeclareTest, AHistogramKeepsTheBucketsItWasGiven) {
  prometheus::Registry registry;
  const prometheus::Histogram::BucketBoundaries buckets{0.001, 0.0025, 0.5, 1, 2.5, 3};
  tracker::metrics::histogram(registry, "t_publish_seconds", "Time to publish", buckets)
      .Observe(0.002);

  const prometheus::MetricFamily family = collected(registry, "t_publish_seconds");
  EXPECT_EQ(family.help, "Time to publish");
  EXPECT_EQ(family.type, MetricType::Histogram);
  ASSERT_EQ(family.metric.size(), 1U);
  EXPECT_TRUE(family.metric[0].label.empty());
  EXPECT_EQ(upper_bounds(family.metric[0]), with_infinity(buckets));
  EXPECT_EQ(family.metric[0].histogram.sample_count, 1U);
  EXPECT_EQ(family.metric[0].histogram.bucket[1].cumulative_count, 1U);  // le="0.0025"
}

TEST(DeclareTest, AFamilyIsReportedOnceLabelValuesAreAdded) {
  prometheus::Registry registry;
  auto& attempts = tracker::metrics::counters(registry, "t_attempts_total", "Requests by outcome");
  auto& depth = tracker::metrics::gauges(registry, "t_queue_depth", "Records queued per channel");
  auto& latency = tracker::metrics::histograms(registry, "t_post_seconds", "Latency by outcome");
  // A family without series is not reported at all (no help line without a sample).
  EXPECT_FALSE(reported(registry, "t_attempts_total"));
  EXPECT_FALSE(reported(registry, "t_queue_depth"));
  EXPECT_FALSE(reported(registry, "t_post_seconds"));

  attempts.Add({{"outcome", "ok"}}).Increment();
  depth.Add({{"channel", "C1"}}).Set(4);
  latency.Add({{"outcome", "ok"}}, tracker::metrics::kEndToEndBuckets).Observe(0.3);

  const prometheus::MetricFamily counted = collected(registry, "t_attempts_total");
  EXPECT_EQ(counted.help, "Requests by outcome");
  EXPECT_EQ(counted.type, MetricType::Counter);
  ASSERT_EQ(counted.metric.size(), 1U);
  EXPECT_EQ(counted.metric[0].label,
            (std::vector<prometheus::ClientMetric::Label>{{"outcome", "ok"}}));

  const prometheus::MetricFamily gauged = collected(registry, "t_queue_depth");
  EXPECT_EQ(gauged.help, "Records queued per channel");
  EXPECT_EQ(gauged.type, MetricType::Gauge);
  ASSERT_EQ(gauged.metric.size(), 1U);
  EXPECT_EQ(gauged.metric[0].gauge.value, 4);

  const prometheus::MetricFamily timed = collected(registry, "t_post_seconds");
  EXPECT_EQ(timed.help, "Latency by outcome");
  EXPECT_EQ(timed.type, MetricType::Histogram);
  ASSERT_EQ(timed.metric.size(), 1U);
  EXPECT_EQ(upper_bounds(timed.metric[0]), with_infinity(tracker::metrics::kEndToEndBuckets));
}

// The dashboards' and alerts' quantiles of job and delivery times read these bounds.
TEST(DeclareTest, EndToEndBucketsRunFromFiftyMillisecondsToAQuarterOfAnHour) {
  EXPECT_EQ(tracker::metrics::kEndToEndBuckets,
            (prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                                                     300, 900}));
}

// A label value from outside is one of the known values, the given one when empty, else "other";
// the view returned is of the known value (static), never of the text that came in.
TEST(KnownOrOther, KnownValuesAreThemselvesEmptyIsTheDefaultAnythingElseIsOther) {
  static constexpr std::string_view kKnown[] = {"a", "bc"};
  using tracker::metrics::known_or_other;
  std::string incoming = "bc";
  const std::string_view label = known_or_other(incoming, kKnown, "none");
  EXPECT_EQ(label, "bc");
  EXPECT_EQ(label.data(), kKnown[1].data()) << "the known value's storage, not the input's";
  EXPECT_EQ(known_or_other("a", kKnown, "none"), "a");
  EXPECT_EQ(known_or_other("", kKnown, "none"), "none");
  EXPECT_EQ(known_or_other("b", kKnown, "none"), "other");
  EXPECT_EQ(known_or_other("bcd", kKnown, "none"), "other");
  EXPECT_EQ(known_or_other("A", kKnown, "none"), "other") << "compared exactly";
  EXPECT_EQ(known_or_other("x", {}, "none"), "other");
  static_assert(known_or_other("a", kKnown, "none") == "a");
}
