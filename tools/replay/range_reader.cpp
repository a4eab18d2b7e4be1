#include "range_reader.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <thread>

namespace tracker::replay {

namespace {

using std::chrono::milliseconds;

int timeout_ms(milliseconds timeout) {
  return static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 1'000'000));
}

std::runtime_error kafka_error(const std::string& what, rd_kafka_resp_err_t err) {
  return std::runtime_error(what + ": " + rd_kafka_err2str(err));
}

std::int64_t record_time_ms(const kafka::Message& message) {
  const auto stamp = message.timestamp();
  if (!stamp) return 0;
  return std::chrono::duration_cast<milliseconds>(stamp->time_since_epoch()).count();
}

// The partitions of `topic`, from the broker's metadata.
std::vector<std::int32_t> partitions_of(rd_kafka_t* client, const std::string& topic,
                                        milliseconds timeout) {
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> handle(
      rd_kafka_topic_new(client, topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err = rd_kafka_metadata(client, 0, handle.get(), &metadata, timeout_ms(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw kafka_error("cannot read the metadata of topic '" + topic + "'", err);
  }
  std::unique_ptr<const rd_kafka_metadata_t, decltype(&rd_kafka_metadata_destroy)> owned(
      metadata, &rd_kafka_metadata_destroy);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const auto topic_err =
        metadata->topic_cnt == 1 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    throw kafka_error("topic '" + topic + "'", topic_err);
  }
  std::vector<std::int32_t> out;
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    out.push_back(metadata->topics[0].partitions[i].id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The first offset at or after `time` in each partition of `list` (set in place); the end of the
// partition where there is none.
void offsets_for_time(rd_kafka_t* client, const std::string& topic,
                      const std::vector<std::int32_t>& partitions,
                      std::chrono::system_clock::time_point time, milliseconds timeout,
                      std::map<std::int32_t, std::int64_t>& out) {
  kafka::PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  const auto ms = std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
  for (const auto p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = ms;
  }
  const auto err = rd_kafka_offsets_for_times(client, list.get(), timeout_ms(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw kafka_error("cannot look up offsets by time in '" + topic + "'", err);
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& element = list->elems[i];
    if (element.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw kafka_error("offsets by time, partition " + std::to_string(element.partition),
                        element.err);
    }
    out[element.partition] = element.offset;  // -1 (the end) when no record is that late
  }
}

}  // namespace

struct RangeReader::Head {
  PartitionRange range;
  kafka::QueuePtr queue;
  std::optional<kafka::Message> message;
  std::int64_t next = 0;  // offset of the next record to take from the partition
  [[nodiscard]] bool done() const { return !message && next >= range.end; }
};

RangeReader::RangeReader(const std::string& brokers, const Options& options, milliseconds timeout) {
  client_ =
      kafka::make_client(RD_KAFKA_CONSUMER, kafka::make_conf({{"bootstrap.servers", brokers},
                                                              {"group.id", "tracker-replay"},
                                                              {"enable.auto.commit", "false"},
                                                              {"enable.auto.offset.store", "false"},
                                                              {"enable.partition.eof", "false"},
                                                              {"log_level", "3"}}));
  rd_kafka_t* rk = client_.get();
  const auto all = partitions_of(rk, options.topic, timeout);
  std::vector<std::int32_t> chosen = options.partitions.empty() ? all : options.partitions;
  for (const auto p : chosen) {
    if (!std::binary_search(all.begin(), all.end(), p)) {
      throw std::runtime_error("topic '" + options.topic + "' has no partition " +
                               std::to_string(p) + " (it has " + std::to_string(all.size()) + ")");
    }
  }
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());

  std::map<std::int32_t, std::int64_t> from_time;
  std::map<std::int32_t, std::int64_t> to_time;
  if (options.from_time) {
    offsets_for_time(rk, options.topic, chosen, *options.from_time, timeout, from_time);
  }
  if (options.to_time) {
    offsets_for_time(rk, options.topic, chosen, *options.to_time, timeout, to_time);
  }
  for (const auto p : chosen) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(rk, options.topic.c_str(), p, &low, &high,
                                                      timeout_ms(timeout));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw kafka_error("cannot read the offsets of partition " + std::to_string(p), err);
    }
    PartitionRange range{.partition = p, .begin = low, .end = high};
    if (options.from_offset) range.begin = std::max(low, *options.from_offset);
    if (options.to_offset) range.end = std::min(high, *options.to_offset);
    if (auto it = from_time.find(p); it != from_time.end()) {
      range.begin = it->second < 0 ? high : std::max(low, it->second);
    }
    if (auto it = to_time.find(p); it != to_time.end() && it->second >= 0) {
      range.end = std::min(high, it->second);
    }
    range.end = std::max(range.end, range.begin);
    ranges_.push_back(range);
  }

  // Each partition's records into a queue of its own, so that the heads can be merged. The queues
  // are split off before the assignment: a fetch that lands before the split would go to the
  // consumer's main queue, which this reader never reads. librdkafka creates the partition on
  // demand, and an application's forwarding is kept when the fetch starts.
  for (const auto& range : ranges_) {
    auto head = std::make_unique<Head>();
    head->range = range;
    head->next = range.begin;
    if (range.end > range.begin) {
      head->queue.reset(rd_kafka_queue_get_partition(rk, options.topic.c_str(), range.partition));
      if (!head->queue) {
        throw std::runtime_error("no queue for partition " + std::to_string(range.partition));
      }
      rd_kafka_queue_forward(head->queue.get(), nullptr);
    }
    heads_.push_back(std::move(head));
  }
  kafka::PartitionListPtr assignment(
      rd_kafka_topic_partition_list_new(static_cast<int>(ranges_.size())));
  for (const auto& range : ranges_) {
    if (range.end <= range.begin) continue;
    rd_kafka_topic_partition_list_add(assignment.get(), options.topic.c_str(), range.partition)
        ->offset = range.begin;
  }
  if (const auto err = rd_kafka_assign(rk, assignment.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw kafka_error("cannot assign the partitions of '" + options.topic + "'", err);
  }
}

RangeReader::~RangeReader() {
  for (auto& head : heads_) head->message.reset();
  heads_.clear();  // queues before the client
  rd_kafka_assign(client_.get(), nullptr);
}

std::uint64_t RangeReader::size() const {
  std::uint64_t total = 0;
  for (const auto& range : ranges_) total += static_cast<std::uint64_t>(range.end - range.begin);
  return total;
}

// Takes the partition's next record into its head; false when its range is done. Records of a
// compacted or deleted stretch simply are not there: the head moves past them.
bool RangeReader::fill(std::size_t index, milliseconds stall) {
  Head& head = *heads_[index];
  if (head.message) return true;
  const auto until = std::chrono::steady_clock::now() + stall;
  while (head.next < head.range.end) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now());
    if (left <= milliseconds::zero()) {
      throw std::runtime_error("partition " + std::to_string(head.range.partition) +
                               " yielded nothing for " + std::to_string(stall.count()) +
                               " ms at offset " + std::to_string(head.next) +
                               " (is the broker up?)");
    }
    kafka::MessagePtr raw(
        rd_kafka_consume_queue(head.queue.get(), timeout_ms(std::min(left, milliseconds{500}))));
    if (!raw) continue;
    if (raw->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (raw->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw kafka_error("reading partition " + std::to_string(head.range.partition), raw->err);
    }
    const std::int64_t offset = raw->offset;
    if (offset < head.next) continue;  // a redelivery after a retried fetch
    head.next = offset + 1;
    if (offset >= head.range.end) break;
    head.message.emplace(std::move(raw), client_);
    return true;
  }
  head.next = std::max(head.next, head.range.end);
  return false;
}

std::optional<kafka::Message> RangeReader::next(milliseconds stall) {
  std::optional<std::size_t> best;
  std::int64_t best_time = 0;
  for (std::size_t i = 0; i < heads_.size(); ++i) {
    if (heads_[i]->done() || !fill(i, stall)) continue;
    const std::int64_t t = record_time_ms(*heads_[i]->message);
    if (!best || t < best_time) {
      best = i;
      best_time = t;
    }
  }
  if (!best) return std::nullopt;
  std::optional<kafka::Message> out = std::move(heads_[*best]->message);
  heads_[*best]->message.reset();
  return out;
}

}  // namespace tracker::replay
