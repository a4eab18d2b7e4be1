#pragma once
// A Scheduler in the test's process against the real broker and PostgreSQL, driven tick by tick
// with explicit times.
#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>

#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/scheduler/scheduler.hpp>

#include "environment.hpp"
#include "run.hpp"

namespace tracker::testing {

struct InProcessScheduler {
  InProcessScheduler(const std::string& schema, const std::string& topic,
                     tracker::scheduler::SchedulerOptions options)
      : pool(io.get_executor(),
             {.connect = {.conninfo = test_database_url(), .search_path = schema},
              .max_connections = 2},
             logger),
        producer({.brokers = kafka_brokers(), .topics = {topic}}, logger),
        scheduler(io.get_executor(), pool, producer, registry, logger, with_topic(options, topic)) {
  }

  static tracker::scheduler::SchedulerOptions with_topic(
      tracker::scheduler::SchedulerOptions options, const std::string& topic) {
    options.topic = topic;
    options.instance = "in-process";
    return options;
  }
  tracker::scheduler::TickReport tick(std::chrono::system_clock::time_point now) {
    auto report = run(io, scheduler.tick(now), std::chrono::seconds{60});
    EXPECT_TRUE(report.has_value()) << (report ? "" : report.error().describe());
    return report ? *report : tracker::scheduler::TickReport{};
  }
  tracker::scheduler::TriggerReport trigger(tracker::scheduler::TriggerRequest request,
                                            std::chrono::system_clock::time_point now) {
    auto report = run(io, scheduler.trigger(std::move(request), now), std::chrono::seconds{60});
    EXPECT_TRUE(report.has_value()) << (report ? "" : report.error().describe());
    return report ? *report : tracker::scheduler::TriggerReport{};
  }

  boost::asio::io_context io;
  log::Logger logger{{.service = "test", .min_level = log::Level::error}};
  prometheus::Registry registry;
  pg::Pool pool;
  kafka::Producer producer;
  tracker::scheduler::Scheduler scheduler;
};

}  // namespace tracker::testing
