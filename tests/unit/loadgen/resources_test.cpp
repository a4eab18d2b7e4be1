// loadgen's resource series: Prometheus's query_range answers, /proc stat lines, CPU rates.
#include <gtest/gtest.h>

#include <unistd.h>

#include "resources.hpp"

namespace lt = tracker::loadtest;

TEST(Resources, QueryRangeBecomesOneSeriesPerJobRelativeToTheStart) {
  const std::string answer = R"({"status":"success","data":{"resultType":"matrix","result":[
    {"metric":{"job":"worker"},"values":[[1000,"0.5"],[1002,"0.25"]]},
    {"metric":{"job":"ingest"},"values":[[1000,"1"]]}]}})";
  const auto series = lt::parse_query_range(answer, "cpu", "job", "", "% of a core", 100, 999);
  ASSERT_EQ(series.size(), 2U);
  EXPECT_EQ(series[0].name, "ingest");
  EXPECT_EQ(series[1].name, "worker");
  EXPECT_EQ(series[1].group, "cpu");
  ASSERT_EQ(series[1].points.size(), 2U);
  EXPECT_DOUBLE_EQ(series[1].points[0].first, 1.0);
  EXPECT_DOUBLE_EQ(series[1].points[0].second, 50.0);
  EXPECT_DOUBLE_EQ(series[1].points[1].second, 25.0);
  // A result without the label takes the given name.
  const auto lag = lt::parse_query_range(
      R"({"status":"success","data":{"result":[{"metric":{},"values":[[5,"7"]]}]}})", "lag", "",
      "worker", "messages", 1, 0);
  ASSERT_EQ(lag.size(), 1U);
  EXPECT_EQ(lag[0].name, "worker");
  EXPECT_THROW(
      lt::parse_query_range(R"({"status":"error","error":"bad_data"})", "cpu", "job", "", "", 1, 0),
      std::runtime_error);
}

TEST(Resources, StatLineWithSpacesAndParenthesesInTheCommand) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime vsize rss ...
  const auto stat = lt::parse_stat_line(
      "4242 (postgres: a (b)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 "
      "123456 222222222 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->ppid, 17);
  EXPECT_EQ(stat->ticks, 300U);
  EXPECT_EQ(stat->rss_pages, 3000);
  EXPECT_FALSE(lt::parse_stat_line("4242 no parenthesis").has_value());
}

TEST(Resources, ThisProcessHasCpuAndMemoryAndAGoneOneHasNone) {
  const auto self = lt::process_tree_usage(static_cast<int>(::getpid()));
  ASSERT_TRUE(self.has_value());
  EXPECT_GT(self->rss_bytes, 1024.0 * 1024.0);
  EXPECT_GE(self->cpu_s, 0.0);
  EXPECT_FALSE(lt::process_tree_usage(4194304 + 1).has_value());
}

TEST(Resources, CpuPercentIsTheRateOfCpuSecondsBetweenSamples) {
  const auto cpu = lt::cpu_percent("kafka", {{0, 10.0}, {1, 10.5}, {3, 11.5}, {3, 11.5}});
  ASSERT_EQ(cpu.points.size(), 2U);
  EXPECT_DOUBLE_EQ(cpu.points[0].second, 50.0);
  EXPECT_DOUBLE_EQ(cpu.points[1].second, 50.0);
  EXPECT_EQ(cpu.unit, "% of a core");
  const std::string peaks = lt::resource_peaks_markdown({cpu});
  EXPECT_NE(peaks.find("| cpu kafka | % of a core | 50.0 | 1 |"), std::string::npos) << peaks;
  EXPECT_NE(lt::resources_csv({cpu}).find("cpu,kafka,% of a core,1.00,50.000"), std::string::npos);
}
