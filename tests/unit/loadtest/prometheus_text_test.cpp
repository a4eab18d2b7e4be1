// What worker-bench reads off a service's /metrics: the numbers its reports are made of.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "prometheus_text.hpp"

namespace {

using namespace tracker::loadtest;

constexpr const char* kText = R"(# HELP tracker_worker_events_stored_total Events written
# TYPE tracker_worker_events_stored_total counter
tracker_worker_events_stored_total{change="message"} 90
tracker_worker_events_stored_total{change="edit"} 7
tracker_worker_events_stored_total_extra 1000
# TYPE tracker_worker_events_duplicate_total counter
tracker_worker_events_duplicate_total 3
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.01"} 10
latency_seconds_bucket{le="0.02"} 60
latency_seconds_bucket{le="0.05"} 99
latency_seconds_bucket{le="0.1"} 100
latency_seconds_bucket{le="+Inf"} 100
latency_seconds_sum 2.5
latency_seconds_count 100
)";

TEST(PrometheusText, ReadsAnUnlabelledSampleNotItsHelpOrTypeLine) {
  EXPECT_EQ(sample(kText, "tracker_worker_events_duplicate_total"), 3.0);
  EXPECT_EQ(sample(kText, "latency_seconds_count"), 100.0);
  EXPECT_FALSE(sample(kText, "tracker_worker_events_missing_total"));
}

TEST(PrometheusText, SumsEveryLabelSetOfOneNameAndNoOtherName) {
  EXPECT_EQ(sum_of(kText, "tracker_worker_events_stored_total"), 97.0);
  EXPECT_EQ(sum_of(kText, "tracker_worker_events_duplicate_total"), 3.0);
  EXPECT_EQ(sum_of(kText, "nothing_total"), 0.0);
}

TEST(PrometheusText, InterpolatesQuantilesInsideTheirBucket) {
  const Buckets buckets = buckets_of(kText, "latency_seconds");
  ASSERT_EQ(buckets.size(), 5U);
  EXPECT_TRUE(std::isinf(buckets.back().first));
  // Rank 50 lies 40 of the 50 observations into (0.01, 0.02].
  EXPECT_NEAR(*quantile(buckets, 0.5), 0.018, 1e-12);
  EXPECT_NEAR(*quantile(buckets, 0.1), 0.01, 1e-12);
  // Rank 99 is the last of the (0.02, 0.05] bucket.
  EXPECT_NEAR(*quantile(buckets, 0.99), 0.05, 1e-12);
  EXPECT_NEAR(*quantile(buckets, 1.0), 0.1, 1e-12);
  EXPECT_EQ(worst_bound(buckets), 0.1);
}

TEST(PrometheusText, BeyondTheLastFiniteBoundReportsThatBound) {
  const Buckets buckets{{0.1, 5}, {1, 5}, {std::numeric_limits<double>::infinity(), 10}};
  EXPECT_EQ(*quantile(buckets, 0.99), 1.0);
  EXPECT_TRUE(std::isinf(worst_bound(buckets)));
}

TEST(PrometheusText, TheDifferenceOfTwoScrapesIsWhatHappenedBetween) {
  const Buckets before{{0.01, 10}, {0.1, 10}, {std::numeric_limits<double>::infinity(), 10}};
  const Buckets after{{0.01, 10}, {0.1, 30}, {std::numeric_limits<double>::infinity(), 30}};
  const Buckets between = difference(after, before);
  EXPECT_EQ(between[0].second, 0.0);
  EXPECT_EQ(between[2].second, 20.0);
  // Everything between fell into (0.01, 0.1]: the median is its middle.
  EXPECT_NEAR(*quantile(between, 0.5), 0.055, 1e-12);
  EXPECT_EQ(worst_bound(between), 0.1);
}

TEST(PrometheusText, AnEmptyHistogramHasNoQuantile) {
  EXPECT_FALSE(quantile({}, 0.5));
  EXPECT_FALSE(quantile(buckets_of("", "latency_seconds"), 0.5));
}

}  // namespace
