#include <tracker/kafka/dead_letter.hpp>

#include <tracker/log/timestamp.hpp>

namespace tracker::kafka {

OutgoingMessage dead_letter_of(const Message& original, const std::string& dlq_topic,
                               const std::string& reason, const std::string& error,
                               const std::string& failed_by) {
  OutgoingMessage message;
  message.topic = dlq_topic;
  message.key = std::string(original.key());
  message.value = std::string(original.value());
  message.headers = {
      {"x-error", error.substr(0, 1'000)},
      {"x-error-reason", reason},
      {"x-original-topic", std::string(original.topic())},
      {"x-original-partition", std::to_string(original.partition())},
      {"x-original-offset", std::to_string(original.offset())},
      {"x-failed-at", log::iso8601_utc(std::chrono::system_clock::now())},
      {"x-failed-by", failed_by},
  };
  return message;
}

}  // namespace tracker::kafka
