#include <tracker/kafka/producer.hpp>

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <mutex>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <tracker/kafka/error.hpp>
#include <tracker/kafka/limits.hpp>

#include "log_level.hpp"
#include "metadata.hpp"
#include "statistics.hpp"

namespace tracker::kafka {

namespace {

// One send in flight. Ownership: a heap-allocated shared_ptr travels through librdkafka as the
// message opaque and is taken back in the delivery callback; a weak_ptr sits in the handler's
// cancellation slot. Whichever of the two claims `claimed` first completes the handler, and the
// completion itself always runs on the handler's associated executor.
struct PendingDelivery {
  PendingDelivery(std::unique_ptr<DeliveryCompletion> c, asio::any_io_executor ex,
                  asio::cancellation_slot s)
      : completion(std::move(c)), executor(std::move(ex)), slot(s) {}

  std::unique_ptr<DeliveryCompletion> completion;
  asio::any_io_executor executor;  // tracks outstanding work until completion
  asio::cancellation_slot slot;
  std::atomic<bool> claimed{false};
  // The message's value, which librdkafka reads in place (no copy) until its delivery report:
  // this object lives until then, whenever the handler completed.
  std::string value;
};

struct Finished {
  std::shared_ptr<PendingDelivery> op;
  boost::system::error_code ec;
  DeliveryReport report;
};

// Runs one completion on its executor's thread.
void complete(Finished& finished) {
  auto& op = *finished.op;
  if (op.slot.is_connected()) op.slot.clear();
  auto completion = std::move(op.completion);
  auto work = std::move(op.executor);
  completion->complete(finished.ec, std::move(finished.report));
}

// Posts `batch` (completions sharing one executor) in one handler. Through an untracked copy of
// the executor: this runs on the poller thread, and the completions may run (and the io_context
// be destroyed) before post() returns here, so nothing this thread still holds afterwards may
// refer to the io_context's work count. The queued operation keeps run() going until the
// completions, which release the tracked executors held by each op.
void post_completions(std::vector<Finished> batch) {
  auto executor =
      asio::prefer(batch.front().op->executor, asio::execution::outstanding_work.untracked);
  asio::post(executor, [batch = std::move(batch)]() mutable {
    for (auto& finished : batch) complete(finished);
  });
}

void post_completion(Finished finished) {
  std::vector<Finished> alone;
  alone.push_back(std::move(finished));
  post_completions(std::move(alone));
}

// The delivery reports of one rd_kafka_poll() on the poller thread, grouped by the executor to
// complete on, so that a loop serving many connections is handed its completions in one post (and
// woken once) rather than once per message.
class DeliveryBatch {
 public:
  // Executors beyond this many (a strand per connection) are posted to one by one.
  static constexpr std::size_t kMaxGroups = 16;

  void add(Finished finished) {
    for (auto& group : groups_) {
      if (group.front().op->executor == finished.op->executor) {
        group.push_back(std::move(finished));
        return;
      }
    }
    if (groups_.size() < kMaxGroups) {
      groups_.emplace_back().push_back(std::move(finished));
      return;
    }
    post_completion(std::move(finished));
  }

  void post_all() {
    for (auto& group : groups_) post_completions(std::move(group));
    groups_.clear();
  }

 private:
  std::vector<std::vector<Finished>> groups_;
};

// Set on the poller thread while it polls: deliveries reported then join its batch. Reports
// served on any other thread (a flush) are posted at once.
thread_local DeliveryBatch* current_batch = nullptr;

void finish(std::shared_ptr<PendingDelivery> op, boost::system::error_code ec,
            DeliveryReport report) {
  if (op->claimed.exchange(true)) return;
  Finished finished{std::move(op), ec, std::move(report)};
  if (current_batch != nullptr) {
    current_batch->add(std::move(finished));
    return;
  }
  post_completion(std::move(finished));
}

}  // namespace

// The sends awaiting their deadline, one queue per deadline length (so each is in deadline
// order). Filled by the threads that send, drained by the poller.
struct Producer::Deadlines {
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Clock::time_point due;
    std::weak_ptr<PendingDelivery> op;
  };
  std::mutex mutex;
  std::map<std::chrono::milliseconds, std::deque<Entry>> queues;
  // The shortest deadline ever asked for: the poller never waits longer than it, so a send made
  // while it waits is not found late.
  std::atomic<std::int64_t> shortest_ms{std::numeric_limits<std::int64_t>::max()};

  void add(std::chrono::milliseconds length, const std::shared_ptr<PendingDelivery>& op) {
    std::int64_t shortest = shortest_ms.load(std::memory_order_relaxed);
    while (length.count() < shortest &&
           !shortest_ms.compare_exchange_weak(shortest, length.count())) {
    }
    std::lock_guard lock(mutex);
    // Read under the lock: each queue stays in deadline order whichever thread sends.
    queues[length].push_back({Clock::now() + length, op});
  }

  // Completes every expired send with timed_out, forgets the finished ones at the fronts, and
  // returns how long the poller may wait for librdkafka before the next deadline (at most
  // `longest`).
  std::chrono::milliseconds expire(std::chrono::milliseconds longest) {
    std::vector<std::shared_ptr<PendingDelivery>> expired;
    auto wait = std::min(longest, std::chrono::milliseconds{shortest_ms.load()});
    {
      std::lock_guard lock(mutex);
      const auto now = Clock::now();
      for (auto& [length, queue] : queues) {
        while (!queue.empty()) {
          Entry& front = queue.front();
          if (front.due <= now) {
            if (auto op = front.op.lock()) expired.push_back(std::move(op));
          } else if (!front.op.expired()) {
            wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(front.due - now));
            break;
          }
          queue.pop_front();
        }
      }
    }
    for (auto& op : expired) finish(std::move(op), asio::error::timed_out, {});
    return std::max(wait, std::chrono::milliseconds{1});
  }
};

// librdkafka's C callbacks. They run on the poller thread (delivery, statistics, errors) or on
// librdkafka's internal threads (logs) and touch only atomics, the thread-safe logger, and the
// PendingDelivery objects designed for it.
struct Producer::Callbacks {
  static void delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* /*opaque*/) {
    std::unique_ptr<std::shared_ptr<PendingDelivery>> op(
        static_cast<std::shared_ptr<PendingDelivery>*>(message->_private));
    if (!op) return;
    // An acknowledgement proves a broker is up: say so now, not at the next statistics.
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      static_cast<Producer*>(rd_kafka_opaque(rk))->set_broker_up(true);
    }
    DeliveryReport report{.topic = rd_kafka_topic_name(message->rkt),
                          .partition = message->partition,
                          .offset = message->offset};
    finish(std::move(*op),
           message->err ? make_error_code(message->err) : boost::system::error_code{},
           std::move(report));
  }

  static int statistics(rd_kafka_t* /*rk*/, char* json, std::size_t length, void* opaque) {
    if (auto up = detail::any_broker_up(json, length)) {
      static_cast<Producer*>(opaque)->set_broker_up(*up);
    }
    return 0;  // librdkafka frees `json`
  }

  static void error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Producer*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->set_broker_up(false);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> detail{};
      const auto original = rd_kafka_fatal_error(rk, detail.data(), detail.size());
      self->logger_.error("kafka_producer_fatal",
                          {{"error", rd_kafka_err2name(original)}, {"detail", detail.data()}});
      return;
    }
    self->logger_.warn("kafka_producer_error",
                       {{"error", rd_kafka_err2name(code)}, {"detail", reason}});
  }

  static void log(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    auto* self = static_cast<Producer*>(rd_kafka_opaque(rk));
    self->logger_.log(detail::syslog_to_level(level), "librdkafka",
                      {{"facility", facility}, {"detail", message}});
  }
};

Producer::Producer(ProducerOptions options, log::Logger& logger)
    : options_(std::move(options)), logger_(logger) {
  Settings settings = {
      {"bootstrap.servers", options_.brokers},
      {"client.id", options_.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", std::to_string(options_.linger.count())},
      {"message.timeout.ms", std::to_string(options_.message_timeout.count())},
      {"queue.buffering.max.messages", std::to_string(options_.queue_max_messages)},
      {"statistics.interval.ms", std::to_string(options_.statistics_interval.count())},
      {"log.connection.close", "false"},
      // A broker that comes back is found within about a second, however long it was away
      // (librdkafka's default backoff grows to 10 s).
      {"reconnect.backoff.max.ms", "1000"},
      // The record limits of limits.hpp: any record a topic takes is accepted here, and a batch
      // never grows past what the smallest topic takes.
      {"message.max.bytes", std::to_string(kMaxDeadLetterBytes)},
      {"batch.size", std::to_string(kMaxBatchBytes)},
  };
  for (const auto& [key, value] : options_.settings) settings[key] = value;
  ConfPtr conf = make_conf(settings);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Callbacks::delivery);
  rd_kafka_conf_set_stats_cb(conf.get(), &Callbacks::statistics);
  rd_kafka_conf_set_error_cb(conf.get(), &Callbacks::error);
  rd_kafka_conf_set_log_cb(conf.get(), &Callbacks::log);
  client_ = make_client(RD_KAFKA_PRODUCER, std::move(conf));
  deadlines_ = std::make_unique<Deadlines>();
  poller_ = std::jthread([this, rk = client_.get()](const std::stop_token& stop) {
    auto wait = std::chrono::milliseconds{100};
    DeliveryBatch batch;
    while (!stop.stop_requested()) {
      current_batch = &batch;
      rd_kafka_poll(rk, static_cast<int>(wait.count()));
      current_batch = nullptr;
      batch.post_all();
      wait = deadlines_->expire(std::chrono::milliseconds{100});
    }
  });
  ::pthread_setname_np(poller_.native_handle(), "kafka-poller");
  for (const std::string& topic : options_.topics) {
    topic_handles_.push_back(rd_kafka_topic_new(client_.get(), topic.c_str(), nullptr));
  }
  if (topic_handles_.empty()) {
    topics_known_.store(true);
  } else {
    topic_lookup_ = std::jthread([this](const std::stop_token& stop) { look_up_topics(stop); });
  }
}

// Asks for each topic's metadata until the broker has described them all, or the producer is
// being destroyed. Each request is bounded (1 s); between failed rounds it waits 200 ms.
void Producer::look_up_topics(const std::stop_token& stop) {
  std::vector<rd_kafka_topic_t*> pending = topic_handles_;
  bool reported = false;
  while (!stop.stop_requested()) {
    std::erase_if(pending, [&](rd_kafka_topic_t* topic) {
      int partitions = 0;
      const auto ec = detail::topic_partitions(client_.get(), topic,
                                               std::chrono::milliseconds{1'000}, partitions);
      const bool known = !ec && partitions > 0;
      // Other negative values: no broker answered in time, which broker_up() already reports.
      const bool answered = !ec || ec.value() > 0 || ec.value() == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
      if (answered && !known && !reported) {
        logger_.warn("kafka_topic_unknown",
                     {{"topic", rd_kafka_topic_name(topic)},
                      {"error", ec ? ec.message() : std::string("no partitions")}});
        reported = true;
      }
      return known;
    });
    if (pending.empty()) {
      topics_known_.store(true);
      return;
    }
    for (int i = 0; i < 4 && !stop.stop_requested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

Producer::~Producer() {
  if (topic_lookup_.joinable()) {
    topic_lookup_.request_stop();
    topic_lookup_.join();
  }
  poller_.request_stop();
  poller_.join();
  if (!flush(options_.close_timeout)) {
    logger_.warn("kafka_producer_close_purging", {{"undelivered", queue_depth()}});
    // Purged messages complete their handlers with a __PURGE_* error: nothing is left waiting.
    rd_kafka_purge(client_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(client_.get(), 1'000);
  }
  for (rd_kafka_topic_t* topic : topic_handles_) rd_kafka_topic_destroy(topic);
}

void Producer::set_broker_up(bool up) noexcept {
  if (broker_up_.exchange(up) && !up) {
    broker_down_since_.store(std::chrono::steady_clock::now().time_since_epoch().count());
  }
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(client_.get(), static_cast<int>(timeout.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

int Producer::queue_depth() const noexcept {
  return rd_kafka_outq_len(client_.get());
}

void Producer::start_send(OutgoingMessage message, asio::any_io_executor executor,
                          asio::cancellation_slot slot,
                          std::unique_ptr<DeliveryCompletion> completion,
                          std::chrono::milliseconds deadline) {
  auto op = std::make_shared<PendingDelivery>(
      std::move(completion),
      asio::prefer(std::move(executor), asio::execution::outstanding_work.tracked), slot);
  if (op->slot.is_connected()) {
    op->slot.assign([weak = std::weak_ptr<PendingDelivery>(op)](asio::cancellation_type type) {
      if (type == asio::cancellation_type::none) return;
      if (auto pending = weak.lock())
        finish(std::move(pending), asio::error::operation_aborted, {});
    });
  }

  rd_kafka_headers_t* headers = nullptr;
  if (!message.headers.empty()) {
    headers = rd_kafka_headers_new(message.headers.size());
    for (const auto& header : message.headers) {
      rd_kafka_header_add(headers, header.name.data(), static_cast<ssize_t>(header.name.size()),
                          header.value.data(), static_cast<ssize_t>(header.value.size()));
    }
  }
  if (deadline > std::chrono::milliseconds{0}) deadlines_->add(deadline, op);
  op->value = std::move(message.value);
  auto* opaque = new std::shared_ptr<PendingDelivery>(op);

  std::array<rd_kafka_vu_t, 7> values{};
  values[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  values[0].u.cstr = message.topic.c_str();
  values[1].vtype = RD_KAFKA_VTYPE_KEY;
  values[1].u.mem = {message.key.data(), message.key.size()};
  values[2].vtype = RD_KAFKA_VTYPE_VALUE;
  values[2].u.mem = {op->value.data(), op->value.size()};
  // No RD_KAFKA_MSG_F_COPY: op->value outlives librdkafka's use of it (see PendingDelivery).
  values[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  values[3].u.i = 0;
  values[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
  values[4].u.ptr = opaque;
  values[5].vtype = RD_KAFKA_VTYPE_PARTITION;
  values[5].u.i32 = message.partition;
  std::size_t count = 6;
  if (headers != nullptr) {
    values[6].vtype = RD_KAFKA_VTYPE_HEADERS;
    values[6].u.headers = headers;
    count = 7;
  }

  if (rd_kafka_error_t* error = rd_kafka_produceva(client_.get(), values.data(), count)) {
    const auto code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    delete opaque;  // librdkafka did not take the message, nor its headers
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    finish(std::move(op), make_error_code(code), {.topic = message.topic});
  }
}

}  // namespace tracker::kafka
