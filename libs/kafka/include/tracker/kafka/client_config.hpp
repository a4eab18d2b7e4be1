#pragma once
// RAII owners of librdkafka handles (one deleter per type, as modern-cpp-kafka does) and the
// construction of an rd_kafka_conf_t from key/value settings.
#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace tracker::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const noexcept { rd_kafka_queue_destroy(queue); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const noexcept { rd_kafka_message_destroy(message); }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// Thrown at construction when librdkafka rejects a setting; what() names the setting.
class ConfigurationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Settings = std::map<std::string, std::string>;

// Builds a configuration from `settings`, throwing ConfigurationError on the first bad one.
ConfPtr make_conf(const Settings& settings);

// Creates a client of `type` from `conf` (taking ownership of it on success). `callback_context`
// (the object librdkafka's callbacks receive as opaque, if any) is kept alive until the client
// is destroyed, since callbacks may run until then.
std::shared_ptr<rd_kafka_t> make_client(rd_kafka_type_t type, ConfPtr conf,
                                        std::shared_ptr<void> callback_context = nullptr);

}  // namespace tracker::kafka
