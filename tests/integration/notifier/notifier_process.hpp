#pragma once
// The notifier binary as integration tests run it: against the real broker and PostgreSQL,
// posting to a Slack simulator, with fast limits unless a test says otherwise.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <tracker/testkit/blocking_client.hpp>

#include "environment.hpp"
#include "service_process.hpp"
#include "slack_simulator.hpp"

namespace tracker::testing {

class NotifierProcess : public ServiceProcess {
 public:
  NotifierProcess(const std::string& schema, const std::string& topic, const std::string& dlq,
                  const std::string& group, const std::string& slack_url,
                  std::vector<std::string> extra = {}, std::string output = {})
      : NotifierProcess(testkit::free_loopback_port(), schema, topic, dlq, group, slack_url,
                        std::move(extra), std::move(output)) {}
  [[nodiscard]] std::uint16_t ops_port() const { return ops_port_; }

 private:
  NotifierProcess(std::uint16_t ops_port, const std::string& schema, const std::string& topic,
                  const std::string& dlq, const std::string& group, const std::string& slack_url,
                  std::vector<std::string> extra, std::string output)
      : ServiceProcess(TRACKER_NOTIFIER_BINARY, environment(ops_port, schema, topic, dlq, group,
                                                            slack_url, std::move(extra))),
        ops_port_(ops_port) {
    // `output`: a file that keeps what the process writes (ServiceProcess::output()).
    if (!output.empty()) capture_output(std::move(output));
    start();
  }
  static std::vector<std::string> environment(std::uint16_t ops_port, const std::string& schema,
                                              const std::string& topic, const std::string& dlq,
                                              const std::string& group,
                                              const std::string& slack_url,
                                              std::vector<std::string> extra) {
    std::vector<std::string> env = {
        "DATABASE_URL=" + test_database_url(),
        "TRACKER_DB_SCHEMA=" + schema,
        "TRACKER_NOTIFIER_TOPIC=" + topic,
        "TRACKER_NOTIFIER_DLQ_TOPIC=" + dlq,
        "TRACKER_NOTIFIER_GROUP=" + group,
        "SLACK_API_BASE_URL=" + slack_url,
        "SLACK_BOT_TOKEN=xoxb-simulated",
        "TRACKER_OPS_ADDRESS=127.0.0.1",
        "TRACKER_OPS_PORT=" + std::to_string(ops_port),
        "TRACKER_SLACK_CHANNEL_PER_MINUTE=12000",
        "TRACKER_SLACK_CHANNEL_BURST=20",
        "TRACKER_SLACK_WORKSPACE_PER_MINUTE=600000",
        "TRACKER_SLACK_WORKSPACE_BURST=200",
        "TRACKER_SLACK_RETRY_INITIAL=20ms",
        "TRACKER_SLACK_RETRY_MAX=200ms",
        "TRACKER_SLACK_RETRY_AFTER_JITTER=20ms",
        "TRACKER_DB_RETRY_MAX_INTERVAL=1s",
        "TRACKER_LOG_LEVEL=error",
    };
    for (auto& e : extra) env.push_back(std::move(e));
    return env;
  }

  std::uint16_t ops_port_;
};

// The delivery_id a post carries in its message metadata ("" if none).
inline std::string delivery_of(const loadtest::PostedMessage& message) {
  if (!message.metadata.is_object()) return "";
  return message.metadata["event_payload"].value("delivery_id", std::string());
}

}  // namespace tracker::testing
