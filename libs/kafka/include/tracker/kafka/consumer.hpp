#pragma once
// A consumer-group member with at-least-once delivery: offsets are stored only when the
// application says a message is processed (enable.auto.offset.store=false), and librdkafka's
// auto-commit commits stored offsets in the background, on rebalance and on close.
//
//   Consumer consumer(io.get_executor(), {.brokers = b, .group_id = "worker",
//                                         .topics = {"slack-events"}}, logger);
//   for (;;) {
//     auto batch = co_await consumer.poll_batch(500, 1s);
//     ... process, then for each processed message: consumer.store_offset(message);
//   }
//   co_await consumer.async_close(blocking_pool);
//
// Partition assignment is eager (range,roundrobin): the cooperative protocol has rebalance bugs
// in librdkafka before 2.4, and Debian bookworm ships 2.0.2.
//
// Threads: the consumer is driven from one executor (the one given to the constructor), which
// must be a strand or a single-threaded io_context; librdkafka signals new messages by writing
// to a pipe that this executor waits on, so waiting never blocks a thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <tracker/kafka/client_config.hpp>
#include <tracker/kafka/message.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::kafka {

namespace asio = boost::asio;

struct ConsumerOptions {
  std::string brokers;
  std::string group_id;
  std::vector<std::string> topics;
  std::string client_id = "study-tracker";
  std::string auto_offset_reset = "earliest";
  std::chrono::milliseconds session_timeout{10'000};
  std::chrono::milliseconds max_poll_interval{300'000};
  std::chrono::milliseconds auto_commit_interval{1'000};
  Settings settings;  // further librdkafka settings, applied last
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
};

struct PartitionLag {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t messages = 0;  // high watermark - position
};

class Consumer {
 public:
  Consumer(asio::any_io_executor executor, ConsumerOptions options, log::Logger& logger);
  ~Consumer();  // closes if close() was not called (blocking, bounded by librdkafka)
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Waits up to `max_wait` for messages and returns at most `max` of them (an empty batch when
  // none arrived). Returns an error only for failures the consumer cannot recover from.
  asio::awaitable<boost::system::result<std::vector<Message>>> poll_batch(
      std::size_t max, std::chrono::milliseconds max_wait);

  // Marks `message` processed: its offset + 1 is committed by the next auto-commit. Fails with
  // __STATE when the partition was revoked meanwhile (its new owner will see it again).
  boost::system::error_code store_offset(const Message& message);
  // Marks everything before `next.offset` in that partition processed.
  boost::system::error_code store_offset(const TopicPartition& next);

  // Commits stored offsets now and waits for the broker. Blocking, and not cancellable (the
  // wait is bounded by librdkafka's socket timeout): use async_commit from a coroutine.
  boost::system::error_code commit();
  asio::awaitable<boost::system::error_code> async_commit(asio::thread_pool& blocking);

  // Stops fetching from every assigned partition (and from partitions assigned later) until
  // resume(); messages already fetched stay queued.
  void pause();
  void resume();
  [[nodiscard]] bool paused() const noexcept;

  // True while connected to at least one broker learned from metadata (from librdkafka's
  // statistics, served by poll_batch, so it is current only while the consumer is polled).
  [[nodiscard]] bool broker_up() const noexcept;

  [[nodiscard]] std::vector<TopicPartition> assignment() const;
  // Per assigned partition, the offset of the last message returned by poll_batch + 1;
  // negative before the first message of that partition (librdkafka's rd_kafka_position).
  [[nodiscard]] std::vector<TopicPartition> positions() const;
  // Per assigned partition, messages not yet returned by poll_batch: the high watermark of the
  // last fetch minus the position, or minus the group's committed offset while nothing has been
  // read from the partition (from librdkafka's statistics, so within about a second of the
  // assignment). Non-blocking (cached watermarks and offsets); a partition without a fetch or
  // whose committed offset is not known yet is left out.
  [[nodiscard]] std::vector<PartitionLag> lag() const;
  // The committed offsets of the assigned partitions, as the broker has them. Blocking (a
  // broker round trip bounded by `timeout`): for tools and tests, not an io_context thread.
  [[nodiscard]] std::vector<TopicPartition> committed(std::chrono::milliseconds timeout) const;

  // Leaves the group after committing stored offsets. Blocking: from a coroutine use
  // async_close, which runs only librdkafka's close on `blocking` and the rest on the
  // consumer's executor. Idempotent; poll_batch fails with __DESTROY afterwards.
  void close();
  asio::awaitable<void> async_close(asio::thread_pool& blocking);

 private:
  struct Callbacks;
  struct CallbackContext;

  void set_paused(bool paused);
  // Closing in three steps, so that async_close runs only the blocking middle one elsewhere.
  bool begin_close();
  void finish_close();

  ConsumerOptions options_;
  log::Logger& logger_;
  std::shared_ptr<CallbackContext> context_;  // also kept alive by the client's deleter
  std::shared_ptr<rd_kafka_t> client_;
  QueuePtr queue_;
  int wake_write_fd_ = -1;
  asio::posix::stream_descriptor wake_;
  bool closed_ = false;
};

}  // namespace tracker::kafka
