#pragma once
// Which offsets of a partition may be marked consumed. The notifier and the summarizer finish
// records out of order (a slow channel's message, a slow model call, after a quick one behind
// it in the same partition), but a consumer group commits one offset per partition, meaning
// "everything before this is done".
// So a partition's committable offset advances only over a run of finished records.
//
// The same offset may be added twice (a record fetched again after a rebalance gave the
// partition back); it is done when every copy is.
#include <cstdint>
#include <map>
#include <optional>

namespace tracker::kafka {

class OffsetTracker {
 public:
  void add(std::int32_t partition, std::int64_t offset) { ++partitions_[partition][offset].copies; }

  // Marks one copy of `offset` done. Returns the offset to commit (the next one to consume)
  // when the run of finished records at the front of the partition grew, else std::nullopt.
  std::optional<std::int64_t> finish(std::int32_t partition, std::int64_t offset) {
    auto partition_it = partitions_.find(partition);
    if (partition_it == partitions_.end()) return std::nullopt;
    auto& offsets = partition_it->second;
    auto it = offsets.find(offset);
    if (it == offsets.end()) return std::nullopt;
    ++it->second.finished;
    std::optional<std::int64_t> next;
    while (!offsets.empty() && offsets.begin()->second.finished >= offsets.begin()->second.copies) {
      next = offsets.begin()->first + 1;
      offsets.erase(offsets.begin());
    }
    if (offsets.empty()) partitions_.erase(partition_it);
    return next;
  }

  [[nodiscard]] std::size_t pending() const {
    std::size_t n = 0;
    for (const auto& [partition, offsets] : partitions_) n += offsets.size();
    return n;
  }

 private:
  struct Entry {
    int copies = 0;
    int finished = 0;
  };
  std::map<std::int32_t, std::map<std::int64_t, Entry>> partitions_;
};

}  // namespace tracker::kafka
