#pragma once
// A topic of the test's own on the real broker, deleted afterwards.
#include <chrono>
#include <stdexcept>
#include <string>

#include <tracker/kafka/admin.hpp>

#include "environment.hpp"
#include "run.hpp"

namespace tracker::testing {

class ScratchTopic {
 public:
  explicit ScratchTopic(int partitions) : name_(unique_name("test")), admin_(kafka_brokers()) {
    if (auto ec = admin_.create_topics(
            {{.name = name_, .partitions = partitions, .replication_factor = -1}},
            std::chrono::seconds{30})) {
      throw std::runtime_error("cannot create topic " + name_ + ": " + ec.message());
    }
  }
  ~ScratchTopic() { static_cast<void>(admin_.delete_topics({name_}, std::chrono::seconds{30})); }
  ScratchTopic(const ScratchTopic&) = delete;
  ScratchTopic& operator=(const ScratchTopic&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  kafka::Admin admin_;
};

}  // namespace tracker::testing
