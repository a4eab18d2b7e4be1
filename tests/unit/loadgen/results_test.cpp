// loadgen's results: the JMeter columns per label, failures by cause, the per-sample CSV and the
// time series.
#include <gtest/gtest.h>

#include <string>

#include "results.hpp"

namespace lt = tracker::loadtest;

namespace {

lt::Results hundred_samples() {
  lt::Results results({"slack events", "scheduler trigger"});
  for (int i = 1; i <= 100; ++i) {
    results.add({.due_s = (i - 1) * 0.1,
                 .latency_ms = static_cast<float>(i),
                 .bytes_sent = 1024,
                 .bytes_received = 512,
                 .label = 0,
                 .status = static_cast<std::uint16_t>(i == 100 ? 503 : 200)});
  }
  return results;
}

}  // namespace

TEST(LoadgenResultsTest, ARowHasJMetersColumns) {
  auto results = hundred_samples();
  results.not_sent(0, 4);
  const lt::Row r = results.row(0);
  EXPECT_EQ(r.samples, 104);  // the 4 never sent count, as failures
  EXPECT_EQ(r.failures, 5);
  EXPECT_NEAR(r.error_pct(), 100.0 * 5 / 104, 1e-9);
  EXPECT_EQ(r.min, 1);
  EXPECT_EQ(r.max, 100);
  EXPECT_NEAR(r.average, 50.5, 1e-9);
  EXPECT_EQ(r.median, 50);
  EXPECT_EQ(r.p90, 90);
  EXPECT_EQ(r.p95, 95);
  EXPECT_EQ(r.p99, 99);
  // 100 responses from the first intended send (0 s) to the last response (9.9 s + 100 ms).
  EXPECT_NEAR(r.throughput, 10.0, 1e-6);
  EXPECT_NEAR(r.sent_kb_s, 10.0, 1e-6);
  EXPECT_NEAR(r.received_kb_s, 5.0, 1e-6);
  const auto causes = results.failure_causes(0);
  EXPECT_EQ(causes.at("http_503"), 1);
  EXPECT_EQ(causes.at("not_sent"), 4);
  EXPECT_EQ(results.row(1).samples, 0);
}

TEST(LoadgenResultsTest, TheTableListsOnlyLabelsWithSamples) {
  auto results = hundred_samples();
  const std::string table = results.table_markdown();
  EXPECT_NE(table.find("| Label | # Samples | # Failures | Error % | Average |"),
            std::string::npos);
  EXPECT_NE(table.find("| slack events | 100 | 1 | 1.00% | 50.50 | 1.00 | 100 | 50.00 |"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("scheduler trigger"), std::string::npos);
  const std::string csv = results.table_csv();
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "label,samples,failures,error_pct,average_ms,min_ms,max_ms,median_ms,p90_ms,p95_ms,"
            "p99_ms,throughput_per_s,received_kb_per_s,sent_kb_per_s");
}

TEST(LoadgenResultsTest, SamplesAreWrittenAsJMetersCsvWithTheFailureSaid) {
  lt::Results results({"scheduler trigger"});
  results.add({.due_s = 1.5, .latency_ms = 2000, .label = 0, .status = 200});
  results.add({.due_s = 61.5,
               .latency_ms = 300000,
               .label = 0,
               .cause = lt::Cause::kOther,
               .detail = results.detail("timeout: 3 of 200 summaries posted")});
  const std::string csv = results.samples_csv(1'000'000);
  EXPECT_NE(csv.find("1001500,2000,scheduler trigger,200,OK,true,,0,0\n"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("1061500,300000,scheduler trigger,,timeout: 3 of 200 summaries posted,false,"
                     "timeout: 3 of 200 summaries posted,0,0\n"),
            std::string::npos)
      << csv;
  EXPECT_EQ(results.failure_causes(0).at("timeout: 3 of 200 summaries posted"), 1);
}

TEST(LoadgenResultsTest, TheSeriesBucketsByIntendedSendTime) {
  const auto results = hundred_samples();
  EXPECT_EQ(results.interval_width(), 1);
  const auto series = results.series(0, 1);
  ASSERT_EQ(series.size(), 10U);
  EXPECT_EQ(series[0].sent, 10);
  EXPECT_EQ(series[0].max, 10);
  EXPECT_EQ(series[9].failed, 1);
  EXPECT_EQ(series[9].p50, 95);
  const auto exported = results.json();
  EXPECT_EQ(exported["rows"].size(), 1U);
  EXPECT_EQ(exported["series"]["slack events"].size(), 10U);
}

TEST(LoadgenResultsTest, ASamplesCsvReadsBackToTheSameTable) {
  auto results = hundred_samples();
  results.add({.due_s = 12.5,
               .latency_ms = 18000,
               .label = 1,
               .cause = lt::Cause::kOther,
               .detail = results.detail("timeout: 3 of 200 summaries posted, \"late\"")});
  const auto again =
      lt::read_samples_csv(results.samples_csv(1'700'000'000'000), 1'700'000'000'000);
  ASSERT_EQ(again.labels(), results.labels());
  for (std::uint16_t l = 0; l < 2; ++l) {
    const lt::Row a = results.row(l);
    const lt::Row b = again.row(l);
    EXPECT_EQ(a.samples, b.samples);
    EXPECT_EQ(a.failures, b.failures);
    EXPECT_EQ(a.median, b.median);
    EXPECT_EQ(a.p99, b.p99);
    EXPECT_NEAR(a.throughput, b.throughput, 1e-6);
    EXPECT_EQ(results.failure_causes(l), again.failure_causes(l));
  }
  EXPECT_EQ(again.samples()[99].due_s, 9.9);

  // JMeter's own result file: more columns, in its order; times from the earliest sample.
  const auto jmeter = lt::read_samples_csv(
      "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,"
      "failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect\n"
      "1000,7,slack,200,OK,t 1-1,text,true,,100,900,1,1,http://x,7,0,1\n"
      "2000,3059,slack,,Non HTTP response code: java.net.BindException,t 1-2,text,false,"
      "\"Non HTTP response code: java.net.BindException\",0,0,1,1,http://x,0,0,0\n",
      0);
  ASSERT_EQ(jmeter.samples().size(), 2U);
  EXPECT_EQ(jmeter.samples()[1].due_s, 1.0);
  EXPECT_EQ(jmeter.row(0).failures, 1);
  EXPECT_EQ(jmeter.failure_causes(0).at("Non HTTP response code: java.net.BindException"), 1);

  EXPECT_THROW(lt::read_samples_csv("elapsed,label\n1,x\n", 0), std::invalid_argument);
  EXPECT_THROW(lt::read_samples_csv(results.samples_csv(0) + "1,2\n", 0), std::invalid_argument);
}
