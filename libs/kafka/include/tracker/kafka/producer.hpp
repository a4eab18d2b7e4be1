#pragma once
// An idempotent producer (enable.idempotence=true, acks=all) whose send completes only when the
// broker has acknowledged the message, usable from a coroutine without blocking its thread:
//
//   kafka::OutgoingMessage message{.topic = "slack-events", .key = "T1:U1", .value = json};
//   auto [ec, report] = co_await producer.async_send(std::move(message),
//                                                    asio::as_tuple(asio::use_awaitable));
//   if (ec == kafka::Failure::queue_full) ...          // refused at once, nothing queued
//   if (ec == kafka::Failure::broker_unreachable) ...  // not acknowledged within message_timeout
//
// Threads: librdkafka's own threads do the I/O; one poller thread owned by the Producer serves
// delivery reports and posts the completions to the awaiting handlers' executors, so each handler
// runs where it was started. The completions of one poll that share an executor (an event loop
// serving many connections) go in one post. A send that is cancelled (for example by a deadline
// raced with `||`) completes at once with operation_aborted; the message itself may still be
// delivered later, which at-least-once consumers absorb with idempotent writes.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/system/error_code.hpp>

#include <tracker/kafka/client_config.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::kafka {

namespace asio = boost::asio;

struct ProducerOptions {
  std::string brokers;
  std::string client_id = "study-tracker";
  // How long librdkafka keeps trying before it reports a message as failed (delivery.timeout.ms).
  std::chrono::milliseconds message_timeout{30'000};
  std::chrono::milliseconds linger{2};
  int queue_max_messages = 100'000;
  std::chrono::milliseconds statistics_interval{1'000};
  // How long the destructor waits for queued messages before purging them.
  std::chrono::milliseconds close_timeout{10'000};
  Settings settings;  // further librdkafka settings, applied last
  // Topics this producer will write. Their partitions and leaders are learned in the background
  // from the start (topics_known()), so that the first message to each does not wait for
  // librdkafka's once-a-second scan of topics it has not seen yet: about a second, measured.
  std::vector<std::string> topics;
};

struct Header {
  std::string name;
  std::string value;
};

struct OutgoingMessage {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  std::int32_t partition = RD_KAFKA_PARTITION_UA;  // unassigned: the partitioner picks by key
};

struct DeliveryReport {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

using DeliverySignature = void(boost::system::error_code, DeliveryReport);

// A type-erased delivery handler. (Boost 1.81's any_completion_handler is not used: its move
// assignment wraps the handler inside itself, and its allocator path corrupted the heap here.)
class DeliveryCompletion {
 public:
  virtual ~DeliveryCompletion() = default;
  virtual void complete(boost::system::error_code ec, DeliveryReport report) = 0;
};

template <typename Handler>
class DeliveryCompletionFor final : public DeliveryCompletion {
 public:
  explicit DeliveryCompletionFor(Handler handler) : handler_(std::move(handler)) {}
  void complete(boost::system::error_code ec, DeliveryReport report) override {
    std::move(handler_)(ec, std::move(report));
  }

 private:
  Handler handler_;
};

class Producer {
 public:
  Producer(ProducerOptions options, log::Logger& logger);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  template <typename CompletionToken>
  auto async_send(OutgoingMessage message, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, DeliverySignature>(
        [this](auto handler, OutgoingMessage m) {
          // Taken before type erasure: completions are posted (never run inline) to this
          // executor, and the slot lets a deadline cancel the wait.
          asio::any_io_executor executor = asio::get_associated_executor(handler);
          asio::cancellation_slot slot = asio::get_associated_cancellation_slot(handler);
          using Handler = std::decay_t<decltype(handler)>;
          start_send(std::move(m), std::move(executor), slot,
                     std::make_unique<DeliveryCompletionFor<Handler>>(std::move(handler)),
                     std::chrono::milliseconds{0});
        },
        token, std::move(message));
  }

  // As above, and completes with asio::error::timed_out when the broker has not acknowledged
  // within `deadline` (the message stays queued and may still be delivered). The poller thread
  // keeps the deadlines, so a send costs no timer of its own: sends with the same deadline form
  // one queue in the order they were made, which the poller drains as they expire, waking for
  // the earliest.
  template <typename CompletionToken>
  auto async_send(OutgoingMessage message, std::chrono::milliseconds deadline,
                  CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, DeliverySignature>(
        [this, deadline](auto handler, OutgoingMessage m) {
          asio::any_io_executor executor = asio::get_associated_executor(handler);
          asio::cancellation_slot slot = asio::get_associated_cancellation_slot(handler);
          using Handler = std::decay_t<decltype(handler)>;
          start_send(std::move(m), std::move(executor), slot,
                     std::make_unique<DeliveryCompletionFor<Handler>>(std::move(handler)),
                     deadline);
        },
        token, std::move(message));
  }

  // Blocks until every queued message is acknowledged or failed, or `timeout` passes; returns
  // true when the queue emptied. Not for an io_context thread.
  bool flush(std::chrono::milliseconds timeout);

  // True while the client is connected to at least one broker of the cluster (not just the
  // bootstrap address); updated from librdkafka's statistics and error callbacks.
  [[nodiscard]] bool broker_up() const noexcept { return broker_up_.load(); }
  // When broker_up() last turned false (the producer's creation until it first turned true).
  [[nodiscard]] std::chrono::steady_clock::time_point broker_down_since() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(broker_down_since_.load()));
  }
  // True once the partitions of every topic in ProducerOptions::topics are known (at once when
  // there are none). Readiness checks combine it with broker_up().
  [[nodiscard]] bool topics_known() const noexcept { return topics_known_.load(); }
  // Messages queued or in flight, not yet acknowledged.
  [[nodiscard]] int queue_depth() const noexcept;

 private:
  struct Callbacks;
  struct Deadlines;

  void look_up_topics(const std::stop_token& stop);
  void start_send(OutgoingMessage message, asio::any_io_executor executor,
                  asio::cancellation_slot slot, std::unique_ptr<DeliveryCompletion> completion,
                  std::chrono::milliseconds deadline);

  ProducerOptions options_;
  log::Logger& logger_;
  void set_broker_up(bool up) noexcept;

  std::atomic<bool> broker_up_{false};
  std::atomic<std::chrono::steady_clock::rep> broker_down_since_{
      std::chrono::steady_clock::now().time_since_epoch().count()};
  std::atomic<bool> topics_known_{false};
  std::shared_ptr<rd_kafka_t> client_;
  // Handles of ProducerOptions::topics, held so that librdkafka keeps what it learned of them.
  std::vector<rd_kafka_topic_t*> topic_handles_;
  std::unique_ptr<Deadlines> deadlines_;
  std::jthread poller_;
  std::jthread topic_lookup_;
};

}  // namespace tracker::kafka
