#pragma once
// Reading librdkafka's statistics JSON (statistics.interval.ms), shared by producer and consumer.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

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

// Per partition whose fetcher is running ("fetch_state": "active"), the group's committed offset
// as librdkafka last learned it (from the OffsetFetch at assignment, then from each commit);
// RD_KAFKA_OFFSET_INVALID when the group has none for it. Partitions still waiting for that
// answer are left out: their committed offset is not known yet, rather than absent.
using CommittedOffsets = std::map<std::pair<std::string, std::int32_t>, std::int64_t>;

inline std::optional<CommittedOffsets> committed_offsets(const char* json, std::size_t length) {
  const auto stats = nlohmann::json::parse(json, json + length, nullptr, false);
  if (stats.is_discarded()) return std::nullopt;
  CommittedOffsets out;
  const auto topics = stats.find("topics");
  if (topics == stats.end() || !topics->is_object()) return out;
  for (const auto& [topic, body] : topics->items()) {
    const auto partitions = body.find("partitions");
    if (partitions == body.end() || !partitions->is_object()) continue;
    for (const auto& partition : *partitions) {
      const std::int32_t id = partition.value("partition", -1);
      if (id < 0) continue;  // the internal "unassigned" partition (-1)
      if (partition.value("fetch_state", "") != "active") continue;
      out[{topic, id}] = partition.value("committed_offset", std::int64_t{-1001});
    }
  }
  return out;
}

}  // namespace tracker::kafka::detail
