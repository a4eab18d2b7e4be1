#pragma once
// A record that could not be processed, as it goes to a dead-letter topic: the original key and
// value, and headers saying why and where it came from:
//   x-error (the detail, at most 1,000 bytes), x-error-reason (a short code), x-original-topic,
//   x-original-partition, x-original-offset, x-failed-at (UTC), x-failed-by (the service).
#include <string>

#include <tracker/kafka/message.hpp>
#include <tracker/kafka/producer.hpp>

namespace tracker::kafka {

OutgoingMessage dead_letter_of(const Message& original, const std::string& dlq_topic,
                               const std::string& reason, const std::string& error,
                               const std::string& failed_by);

}  // namespace tracker::kafka
