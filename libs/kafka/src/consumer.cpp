#include <tracker/kafka/consumer.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <tracker/async/blocking.hpp>
#include <tracker/kafka/error.hpp>
#include <tracker/kafka/limits.hpp>

#include "log_level.hpp"
#include "statistics.hpp"

namespace tracker::kafka {

namespace {

// The longest the consumer sleeps between looks at its queue. The pipe wakes it as soon as a
// message arrives; this bound only limits the cost of a wake-up that was somehow missed.
constexpr std::chrono::milliseconds kMaxSleep{250};

nlohmann::json describe(const rd_kafka_topic_partition_list_t* partitions) {
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; partitions != nullptr && i < partitions->cnt; ++i) {
    out.push_back(std::string(partitions->elems[i].topic) + "[" +
                  std::to_string(partitions->elems[i].partition) + "]");
  }
  return out;
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (int i = 0; list != nullptr && i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

// The current assignment, or an empty list (never null) when there is none or no client.
PartitionListPtr current_assignment(rd_kafka_t* client) {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (client == nullptr || rd_kafka_assignment(client, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return PartitionListPtr(rd_kafka_topic_partition_list_new(0));
  }
  return PartitionListPtr(raw);
}

}  // namespace

// What librdkafka's callbacks may touch. It is owned jointly by the Consumer and the client's
// deleter, because a Message can keep the client (and so its threads and callbacks) alive after
// the Consumer is gone.
struct Consumer::CallbackContext {
  CallbackContext(log::Logger& log, std::string group) : logger(log), group_id(std::move(group)) {}
  log::Logger& logger;
  std::string group_id;
  std::atomic<bool> paused{false};
  std::atomic<bool> broker_up{false};
  // From the statistics callback (served on the consumer's executor), read by lag().
  mutable std::mutex committed_mutex;
  detail::CommittedOffsets committed;
};

// Rebalance callbacks run inside rd_kafka_consumer_poll (on the consumer's executor) or inside
// rd_kafka_consumer_close (on whichever thread closes); error and log callbacks may run on
// librdkafka's threads. All of them use only the CallbackContext and librdkafka itself.
struct Consumer::Callbacks {
  static void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* context = static_cast<CallbackContext*>(opaque);
    {
      // What the statistics said of the old assignment is not to be trusted for the new one
      // (a partition given back may have been committed further by another member meanwhile).
      std::lock_guard lock(context->committed_mutex);
      context->committed.clear();
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (auto failed = rd_kafka_assign(rk, partitions); failed != RD_KAFKA_RESP_ERR_NO_ERROR) {
        context->logger.error("kafka_assign_failed", {{"error", rd_kafka_err2name(failed)}});
      }
      if (context->paused.load()) rd_kafka_pause_partitions(rk, partitions);
      context->logger.info("kafka_partitions_assigned",
                           {{"group", context->group_id}, {"partitions", describe(partitions)}});
      return;
    }
    // Revoked (or a rebalance error): with auto-commit on, librdkafka commits the stored offsets
    // of the removed partitions as part of this unassign.
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      context->logger.error("kafka_rebalance_error", {{"error", rd_kafka_err2name(err)}});
    }
    if (auto failed = rd_kafka_assign(rk, nullptr); failed != RD_KAFKA_RESP_ERR_NO_ERROR) {
      context->logger.error("kafka_unassign_failed", {{"error", rd_kafka_err2name(failed)}});
    }
    context->logger.info("kafka_partitions_revoked",
                         {{"group", context->group_id}, {"partitions", describe(partitions)}});
  }

  static int statistics(rd_kafka_t* /*rk*/, char* json, std::size_t length, void* opaque) {
    auto* context = static_cast<CallbackContext*>(opaque);
    if (auto up = detail::any_broker_up(json, length)) context->broker_up.store(*up);
    if (auto committed = detail::committed_offsets(json, length)) {
      std::lock_guard lock(context->committed_mutex);
      context->committed = std::move(*committed);
    }
    return 0;  // librdkafka frees `json`
  }

  static void error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    if (static_cast<rd_kafka_resp_err_t>(err) == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      static_cast<CallbackContext*>(opaque)->broker_up.store(false);
    }
    static_cast<CallbackContext*>(opaque)->logger.warn(
        "kafka_consumer_error",
        {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))}, {"detail", reason}});
  }

  static void log(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    static_cast<CallbackContext*>(rd_kafka_opaque(rk))
        ->logger.log(detail::syslog_to_level(level), "librdkafka",
                     {{"facility", facility}, {"detail", message}});
  }
};

Consumer::Consumer(asio::any_io_executor executor, ConsumerOptions options, log::Logger& logger)
    : options_(std::move(options)), logger_(logger), wake_(std::move(executor)) {
  if (options_.group_id.empty()) throw ConfigurationError("Kafka consumer: group_id is empty");
  if (options_.topics.empty()) throw ConfigurationError("Kafka consumer: no topics to consume");
  Settings settings = {
      {"bootstrap.servers", options_.brokers},
      {"group.id", options_.group_id},
      {"client.id", options_.client_id},
      {"enable.auto.commit", "true"},
      {"enable.auto.offset.store", "false"},
      {"auto.commit.interval.ms", std::to_string(options_.auto_commit_interval.count())},
      {"auto.offset.reset", options_.auto_offset_reset},
      {"session.timeout.ms", std::to_string(options_.session_timeout.count())},
      {"max.poll.interval.ms", std::to_string(options_.max_poll_interval.count())},
      {"partition.assignment.strategy", "range,roundrobin"},
      {"enable.partition.eof", "false"},
      {"log.connection.close", "false"},
      {"statistics.interval.ms", "1000"},
      // One fetch per partition can always carry the largest record (limits.hpp).
      {"max.partition.fetch.bytes", std::to_string(kMaxDeadLetterBytes)},
  };
  for (const auto& [key, value] : options_.settings) settings[key] = value;
  options_.auto_offset_reset = settings["auto.offset.reset"];  // as applied, for lag()
  ConfPtr conf = make_conf(settings);
  context_ = std::make_shared<CallbackContext>(logger_, options_.group_id);
  rd_kafka_conf_set_opaque(conf.get(), context_.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Callbacks::rebalance);
  rd_kafka_conf_set_error_cb(conf.get(), &Callbacks::error);
  rd_kafka_conf_set_log_cb(conf.get(), &Callbacks::log);
  rd_kafka_conf_set_stats_cb(conf.get(), &Callbacks::statistics);
  client_ = make_client(RD_KAFKA_CONSUMER, std::move(conf), context_);

  // Serve rebalances, errors and logs from the consumer queue, which is the one we wait on.
  rd_kafka_poll_set_consumer(client_.get());
  queue_.reset(rd_kafka_queue_get_consumer(client_.get()));

  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_NONBLOCK | O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "Kafka consumer: pipe2");
  }
  wake_.assign(fds[0]);
  wake_write_fd_ = fds[1];
  static constexpr char kWakeByte = '1';
  rd_kafka_queue_io_event_enable(queue_.get(), wake_write_fd_, &kWakeByte, 1);

  PartitionListPtr topics(
      rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
  for (const auto& topic : options_.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto err = rd_kafka_subscribe(client_.get(), topics.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    close();
    throw ConfigurationError(std::string("Kafka consumer: subscribe failed: ") +
                             rd_kafka_err2str(err));
  }
}

Consumer::~Consumer() {
  close();
}

asio::awaitable<boost::system::result<std::vector<Message>>> Consumer::poll_batch(
    std::size_t max, std::chrono::milliseconds max_wait) {
  using namespace asio::experimental::awaitable_operators;
  std::vector<Message> batch;
  batch.reserve(std::min<std::size_t>(max, 1024));
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  asio::steady_timer timer(wake_.get_executor());
  for (;;) {
    if (closed_) co_return make_error_code(RD_KAFKA_RESP_ERR__DESTROY);
    // Drain the pipe before looking at the queue: a message that arrives after the look
    // writes to the pipe again, so the wait below cannot miss it.
    std::array<char, 256> sink{};
    while (::read(wake_.native_handle(), sink.data(), sink.size()) > 0) {
    }
    while (batch.size() < max) {
      MessagePtr message(rd_kafka_consumer_poll(client_.get(), 0));
      if (!message) break;
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (belongs_to(message->err, Failure::fatal)) co_return make_error_code(message->err);
        // Anything else (a topic not there yet, a broker gone) is librdkafka's to recover
        // from; it reports each occurrence once.
        logger_.warn("kafka_consume_error",
                     {{"error", rd_kafka_err2name(message->err)},
                      {"topic", message->rkt ? rd_kafka_topic_name(message->rkt) : ""},
                      {"partition", message->partition}});
        continue;
      }
      batch.emplace_back(std::move(message), client_);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!batch.empty() || now >= deadline) co_return batch;
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(deadline - now, kMaxSleep));
    co_await (wake_.async_wait(asio::posix::stream_descriptor::wait_read,
                               asio::as_tuple(asio::use_awaitable)) ||
              timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  }
}

boost::system::error_code Consumer::store_offset(const Message& message) {
  return store_offset(
      TopicPartition{std::string(message.topic()), message.partition(), message.offset() + 1});
}

boost::system::error_code Consumer::store_offset(const TopicPartition& next) {
  if (closed_) return make_error_code(RD_KAFKA_RESP_ERR__DESTROY);
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  auto* entry = rd_kafka_topic_partition_list_add(list.get(), next.topic.c_str(), next.partition);
  entry->offset = next.offset;
  if (auto err = rd_kafka_offsets_store(client_.get(), list.get()); err) {
    return make_error_code(err);
  }
  return entry->err ? make_error_code(entry->err) : boost::system::error_code{};
}

boost::system::error_code Consumer::commit() {
  if (closed_) return make_error_code(RD_KAFKA_RESP_ERR__DESTROY);
  const auto err = rd_kafka_commit(client_.get(), nullptr, 0);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return {};
  return make_error_code(err);
}

asio::awaitable<boost::system::error_code> Consumer::async_commit(asio::thread_pool& blocking) {
  if (closed_) co_return make_error_code(RD_KAFKA_RESP_ERR__DESTROY);
  // A named closure: GCC 12 destroys a closure with non-trivial captures twice when it is a
  // temporary inside a co_await expression.
  auto commit_now = [client = client_] {
    const auto err = rd_kafka_commit(client.get(), nullptr, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
      return boost::system::error_code{};
    }
    return make_error_code(err);
  };
  co_return co_await async::run_blocking(blocking, std::move(commit_now));
}

bool Consumer::paused() const noexcept {
  return context_->paused.load();
}

void Consumer::set_paused(bool paused) {
  context_->paused.store(paused);
  if (closed_) return;
  PartitionListPtr list = current_assignment(client_.get());
  if (list->cnt == 0) return;
  if (paused) {
    rd_kafka_pause_partitions(client_.get(), list.get());
  } else {
    rd_kafka_resume_partitions(client_.get(), list.get());
  }
}

void Consumer::pause() {
  set_paused(true);
}
void Consumer::resume() {
  set_paused(false);
}

std::vector<TopicPartition> Consumer::assignment() const {
  return to_vector(current_assignment(closed_ ? nullptr : client_.get()).get());
}

std::vector<TopicPartition> Consumer::positions() const {
  PartitionListPtr list = current_assignment(closed_ ? nullptr : client_.get());
  if (list->cnt == 0 ||
      rd_kafka_position(client_.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {};
  }
  return to_vector(list.get());
}

bool Consumer::broker_up() const noexcept {
  return context_ && context_->broker_up.load();
}

std::vector<PartitionLag> Consumer::lag() const {
  std::vector<PartitionLag> out;
  detail::CommittedOffsets committed;
  if (context_) {
    std::lock_guard lock(context_->committed_mutex);
    committed = context_->committed;
  }
  for (const TopicPartition& position : positions()) {
    std::int64_t low = -1;
    std::int64_t high = -1;
    // Cached from the last fetch response: no broker round trip.
    if (rd_kafka_get_watermark_offsets(client_.get(), position.topic.c_str(), position.partition,
                                       &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    // Where this member stands: the position once it has read from the partition; before that,
    // the group's committed offset, where its fetch started (a restarted consumer on a
    // caught-up partition is not behind by the partition's whole history). Only a group with
    // no commit at all starts from the low watermark (auto.offset.reset=earliest).
    std::int64_t from = position.offset;
    if (from < 0) {
      const auto known = committed.find({position.topic, position.partition});
      if (known == committed.end()) continue;  // not learned yet: no figure rather than a wrong one
      if (known->second >= 0) {
        from = std::max(known->second, low);  // below the low watermark is gone, not behind
      } else if (options_.auto_offset_reset == "earliest" ||
                 options_.auto_offset_reset == "smallest" ||
                 options_.auto_offset_reset == "beginning") {
        from = low;
      } else {
        from = high;  // latest: it starts at the end
      }
    }
    if (from < 0) continue;
    out.push_back({position.topic, position.partition, std::max<std::int64_t>(0, high - from)});
  }
  return out;
}

std::vector<TopicPartition> Consumer::committed(std::chrono::milliseconds timeout) const {
  PartitionListPtr list = current_assignment(closed_ ? nullptr : client_.get());
  if (list->cnt == 0 ||
      rd_kafka_committed(client_.get(), list.get(), static_cast<int>(timeout.count())) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {};
  }
  return to_vector(list.get());
}

bool Consumer::begin_close() {
  if (closed_) return false;
  closed_ = true;
  if (queue_) rd_kafka_queue_io_event_enable(queue_.get(), -1, nullptr, 0);
  return true;
}

void Consumer::finish_close() {
  queue_.reset();
  boost::system::error_code ignored;
  wake_.close(ignored);
  if (wake_write_fd_ >= 0) ::close(wake_write_fd_);
  wake_write_fd_ = -1;
  // The client itself is destroyed when the last Message referring to it is gone.
  client_.reset();
}

namespace {
// Leaves the group; the revoke commits stored offsets (auto-commit is on). Blocking.
void leave_group(rd_kafka_t* client, log::Logger& logger) {
  if (auto err = rd_kafka_consumer_close(client); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    logger.warn("kafka_consumer_close_failed", {{"error", rd_kafka_err2name(err)}});
  }
}
}  // namespace

void Consumer::close() {
  if (!begin_close()) return;
  if (client_) leave_group(client_.get(), logger_);
  finish_close();
}

asio::awaitable<void> Consumer::async_close(asio::thread_pool& blocking) {
  if (!begin_close()) co_return;
  if (client_) {
    // Named, not a temporary inside co_await (see async_commit).
    auto leave = [client = client_, &log = logger_] { leave_group(client.get(), log); };
    co_await async::run_blocking(blocking, std::move(leave));
  }
  finish_close();  // back on the consumer's executor
}

}  // namespace tracker::kafka
