#pragma once
// The worker binary as integration tests run it: against the real broker and PostgreSQL, on the
// test's own topics, consumer group and schema.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <tracker/testkit/blocking_client.hpp>

#include "environment.hpp"
#include "service_process.hpp"

namespace tracker::testing {

class WorkerProcess : public ServiceProcess {
 public:
  WorkerProcess(const std::string& schema, const std::string& topic, const std::string& dlq,
                const std::string& group, std::vector<std::string> extra = {})
      : WorkerProcess(testkit::free_loopback_port(), schema, topic, dlq, group, std::move(extra)) {}
  [[nodiscard]] std::uint16_t ops_port() const { return ops_port_; }

 private:
  WorkerProcess(std::uint16_t ops_port, const std::string& schema, const std::string& topic,
                const std::string& dlq, const std::string& group, std::vector<std::string> extra)
      : ServiceProcess(TRACKER_WORKER_BINARY,
                       environment(ops_port, schema, topic, dlq, group, std::move(extra))),
        ops_port_(ops_port) {
    start();
  }
  static std::vector<std::string> environment(std::uint16_t ops_port, const std::string& schema,
                                              const std::string& topic, const std::string& dlq,
                                              const std::string& group,
                                              std::vector<std::string> extra) {
    std::vector<std::string> env = {
        "DATABASE_URL=" + test_database_url(),
        "TRACKER_DB_SCHEMA=" + schema,
        "TRACKER_WORKER_TOPIC=" + topic,
        "TRACKER_WORKER_DLQ_TOPIC=" + dlq,
        "TRACKER_WORKER_GROUP=" + group,
        "TRACKER_OPS_ADDRESS=127.0.0.1",
        "TRACKER_OPS_PORT=" + std::to_string(ops_port),
        "TRACKER_DB_RETRY_MAX_INTERVAL=1s",
        "TRACKER_LOG_LEVEL=warn",
    };
    for (auto& e : extra) env.push_back(std::move(e));
    return env;
  }

  std::uint16_t ops_port_;
};

}  // namespace tracker::testing
