#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <tracker/kafka/client_config.hpp>

namespace tracker::kafka {

// A consumed message. It keeps the client alive (librdkafka requires every message to be
// destroyed before its client), so it may outlive the Consumer that returned it.
class Message {
 public:
  Message(MessagePtr message, std::shared_ptr<rd_kafka_t> client)
      : client_(std::move(client)), message_(std::move(message)) {}
  Message(Message&&) noexcept = default;
  Message& operator=(Message&& other) noexcept {
    message_ = std::move(other.message_);  // the old message goes while its client is held
    client_ = std::move(other.client_);
    return *this;
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() = default;

  [[nodiscard]] std::string_view topic() const { return rd_kafka_topic_name(message_->rkt); }
  [[nodiscard]] std::int32_t partition() const noexcept { return message_->partition; }
  [[nodiscard]] std::int64_t offset() const noexcept { return message_->offset; }
  [[nodiscard]] std::string_view key() const noexcept {
    return {static_cast<const char*>(message_->key), message_->key_len};
  }
  [[nodiscard]] std::string_view value() const noexcept {
    return {static_cast<const char*>(message_->payload), message_->len};
  }
  // The producer's or broker's timestamp, if the message has one.
  [[nodiscard]] std::optional<std::chrono::system_clock::time_point> timestamp() const noexcept {
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t ms = rd_kafka_message_timestamp(message_.get(), &type);
    if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ms < 0) return std::nullopt;
    return std::chrono::system_clock::time_point{std::chrono::milliseconds{ms}};
  }
  // librdkafka's message, for what this class does not wrap (copying the headers, say).
  [[nodiscard]] const rd_kafka_message_t* raw() const noexcept { return message_.get(); }
  // The last header of that name, if any.
  [[nodiscard]] std::optional<std::string_view> header(const char* name) const noexcept {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message_.get(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::nullopt;
    }
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::nullopt;
    }
    return std::string_view{static_cast<const char*>(value), size};
  }

 private:
  // In this order, so that the message is destroyed first: the client's destroy waits for all
  // its messages to be gone, and this one may hold its last reference.
  std::shared_ptr<rd_kafka_t> client_;
  MessagePtr message_;
};

}  // namespace tracker::kafka
