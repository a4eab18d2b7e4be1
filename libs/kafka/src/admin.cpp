#include <tracker/kafka/admin.hpp>

#include <array>

#include <tracker/kafka/error.hpp>

#include "metadata.hpp"

namespace tracker::kafka {

namespace {

struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const noexcept { rd_kafka_NewTopic_destroy(topic); }
};
struct DeleteTopicDeleter {
  void operator()(rd_kafka_DeleteTopic_t* topic) const noexcept {
    rd_kafka_DeleteTopic_destroy(topic);
  }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const noexcept { rd_kafka_event_destroy(event); }
};
struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* options) const noexcept {
    rd_kafka_AdminOptions_destroy(options);
  }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> admin_options(
    rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout) {
  std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, op));
  std::array<char, 256> error{};
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), static_cast<int>(timeout.count()),
                                              error.data(), error.size());
  rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(timeout.count()),
                                            error.data(), error.size());
  return options;
}

// Waits for the result event of one admin call, bounded by `timeout` plus a margin.
EventPtr wait_result(rd_kafka_queue_t* queue, std::chrono::milliseconds timeout) {
  return EventPtr(rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1'000));
}

boost::system::error_code first_error(const rd_kafka_topic_result_t* const* results,
                                      std::size_t count, rd_kafka_resp_err_t ignore) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(results[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != ignore) return make_error_code(err);
  }
  return {};
}

// Runs one admin request (`call` enqueues it on the queue it is given) and returns the first
// per-topic error that is not `ignored`, or the request's own error.
template <typename Call, typename ResultsOf>
boost::system::error_code run_admin(rd_kafka_t* client, rd_kafka_admin_op_t op,
                                    std::chrono::milliseconds timeout, Call call,
                                    ResultsOf results_of, rd_kafka_resp_err_t ignored) {
  QueuePtr queue(rd_kafka_queue_new(client));
  auto options = admin_options(client, op, timeout);
  call(options.get(), queue.get());
  EventPtr event = wait_result(queue.get(), timeout);
  if (!event) return make_error_code(RD_KAFKA_RESP_ERR__TIMED_OUT);
  if (auto err = rd_kafka_event_error(event.get()); err) return make_error_code(err);
  std::size_t count = 0;
  const auto* results = results_of(event.get(), &count);
  return first_error(results, count, ignored);
}

}  // namespace

Admin::Admin(const std::string& brokers, Settings settings) {
  settings["bootstrap.servers"] = brokers;
  settings.try_emplace("log.connection.close", "false");
  ConfPtr conf = make_conf(settings);
  // An admin client's own connection chatter is not worth a line on stderr; its failures come
  // back as error codes.
  rd_kafka_conf_set_log_cb(conf.get(), [](const rd_kafka_t*, int, const char*, const char*) {});
  client_ = make_client(RD_KAFKA_PRODUCER, std::move(conf));
}

boost::system::error_code Admin::create_topics(const std::vector<TopicSpec>& topics,
                                               std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  std::array<char, 512> error{};
  for (const auto& spec : topics) {
    owned.emplace_back(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                             spec.replication_factor, error.data(), error.size()));
    if (!owned.back()) return make_error_code(RD_KAFKA_RESP_ERR__INVALID_ARG);
    for (const auto& [key, value] : spec.config) {
      rd_kafka_NewTopic_set_config(owned.back().get(), key.c_str(), value.c_str());
    }
    raw.push_back(owned.back().get());
  }
  return run_admin(
      client_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout,
      [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_CreateTopics(client_.get(), raw.data(), raw.size(), options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event),
                                                   count);
      },
      RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
}

boost::system::error_code Admin::delete_topics(const std::vector<std::string>& names,
                                               std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<rd_kafka_DeleteTopic_t, DeleteTopicDeleter>> owned;
  std::vector<rd_kafka_DeleteTopic_t*> raw;
  for (const auto& name : names) {
    owned.emplace_back(rd_kafka_DeleteTopic_new(name.c_str()));
    raw.push_back(owned.back().get());
  }
  return run_admin(
      client_.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout,
      [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_DeleteTopics(client_.get(), raw.data(), raw.size(), options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event),
                                                   count);
      },
      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
}

boost::system::error_code Admin::partition_count(const std::string& topic, int& count,
                                                 std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client_.get(), topic.c_str(), nullptr);
  const auto result = detail::topic_partitions(client_.get(), handle, timeout, count);
  rd_kafka_topic_destroy(handle);
  return result;
}

}  // namespace tracker::kafka
