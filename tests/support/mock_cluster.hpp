#pragma once
// librdkafka's in-process mock cluster, for fault-injection unit tests: brokers that listen on
// loopback inside the test process and can be taken down and brought back at will.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

namespace tracker::testing {

class MockCluster {
 public:
  explicit MockCluster(int brokers = 1) {
    std::array<char, 256> error{};
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", error.data(), error.size());
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
    if (host_ == nullptr) throw std::runtime_error(error.data());
    cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
    if (cluster_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  [[nodiscard]] std::string bootstraps() const {
    return rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  void create_topic(const std::string& name, int partitions) {
    rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
  }
  void broker_down(int id = 1) { rd_kafka_mock_broker_set_down(cluster_, id); }
  void broker_up(int id = 1) { rd_kafka_mock_broker_set_up(cluster_, id); }
  // The next produce requests (one per error, in order) are answered with these errors.
  void fail_next_produce_requests(const std::vector<rd_kafka_resp_err_t>& errors) {
    rd_kafka_mock_push_request_errors_array(cluster_, 0 /* Produce */, errors.size(),
                                            errors.data());
  }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

}  // namespace tracker::testing
