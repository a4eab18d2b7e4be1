#pragma once
// Topic administration for tools and tests (the local stack creates the production topics from
// schemas/topics.json). Calls block up to their timeout; not for an io_context thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

#include <tracker/kafka/client_config.hpp>

namespace tracker::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = 1;
  Settings config;  // e.g. {"retention.ms", "604800000"}
};

class Admin {
 public:
  explicit Admin(const std::string& brokers, Settings settings = {});

  // Creates the topics; one that already exists counts as created. Returns the first failure.
  boost::system::error_code create_topics(const std::vector<TopicSpec>& topics,
                                          std::chrono::milliseconds timeout);
  boost::system::error_code delete_topics(const std::vector<std::string>& names,
                                          std::chrono::milliseconds timeout);
  // Partition count of `topic`, or an error (unknown topic, broker unreachable).
  boost::system::error_code partition_count(const std::string& topic, int& count,
                                            std::chrono::milliseconds timeout);

 private:
  std::shared_ptr<rd_kafka_t> client_;
};

}  // namespace tracker::kafka
