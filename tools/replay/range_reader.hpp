#pragma once
// Reads a fixed range of a topic, partition by partition, and hands the records out in the order
// of their timestamps across partitions (each partition's own order kept): a merge of the
// partitions' heads. No consumer group: the partitions are assigned at explicit offsets, nothing
// is committed, and the range ends where each partition ended when the reader was made, so a
// topic that keeps growing cannot make the read endless.
//
// Blocking, for a command-line tool: one thread, librdkafka's calls bounded by timeouts.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tracker/kafka/client_config.hpp>
#include <tracker/kafka/message.hpp>

#include "options.hpp"

namespace tracker::replay {

struct PartitionRange {
  std::int32_t partition = 0;
  std::int64_t begin = 0;  // first offset read
  std::int64_t end = 0;    // offset after the last one read
};

class RangeReader {
 public:
  // Resolves the range (offsets, times, the partitions' ends) and assigns the partitions.
  // Throws std::runtime_error naming what failed (no such topic or partition, broker
  // unreachable within `timeout`).
  RangeReader(const std::string& brokers, const Options& options,
              std::chrono::milliseconds timeout = std::chrono::seconds{10});
  ~RangeReader();
  RangeReader(const RangeReader&) = delete;
  RangeReader& operator=(const RangeReader&) = delete;

  [[nodiscard]] const std::vector<PartitionRange>& ranges() const { return ranges_; }
  [[nodiscard]] std::uint64_t size() const;  // records in the range

  // The next record by timestamp, or nullopt at the end of the range. Throws when a partition
  // yields nothing for `stall` although its range is not done (the broker went away).
  std::optional<kafka::Message> next(std::chrono::milliseconds stall = std::chrono::seconds{30});

 private:
  struct Head;
  bool fill(std::size_t index, std::chrono::milliseconds stall);

  std::shared_ptr<rd_kafka_t> client_;
  std::vector<PartitionRange> ranges_;
  std::vector<std::unique_ptr<Head>> heads_;
};

}  // namespace tracker::replay
