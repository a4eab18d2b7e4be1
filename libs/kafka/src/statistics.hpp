#pragma once
// Reading librdkafka's statistics JSON (statistics.interval.ms), shared by producer and consumer.
#include <cstddef>
#include <optional>

#include <nlohmann/json.hpp>

namespace tracker::kafka::detail {

// True when the client is connected to at least one broker it learned from metadata. Bootstrap
// entries (nodeid -1) do not count: a connection to the bootstrap address alone does not mean
// the cluster's brokers can be reached. nullopt for JSON that does not parse.
inline std::optional<bool> any_broker_up(const char* json, std::size_t length) {
  const auto stats = nlohmann::json::parse(json, json + length, nullptr, false);
  if (stats.is_discarded()) return std::nullopt;
  bool up = false;
  if (auto brokers = stats.find("brokers"); brokers != stats.end() && brokers->is_object()) {
    for (const auto& broker : *brokers) {
      if (broker.value("nodeid", -1) >= 0 && broker.value("state", "") == "UP") up = true;
    }
  }
  return up;
}

}  // namespace tracker::kafka::detail
