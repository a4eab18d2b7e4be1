#include <tracker/kafka/error.hpp>

#include <string>

namespace tracker::kafka {

namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories
// are never deleted through a base pointer); GCC still reports the derived classes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class KafkaCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "kafka"; }
  std::string message(int code) const override {
    return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
  }
  bool equivalent(int code,
                  const boost::system::error_condition& condition) const noexcept override {
    if (condition.category() == failure_category()) {
      return belongs_to(static_cast<rd_kafka_resp_err_t>(code),
                        static_cast<Failure>(condition.value()));
    }
    return error_category::equivalent(code, condition);
  }
};

class FailureCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "kafka.failure"; }
  std::string message(int value) const override {
    switch (static_cast<Failure>(value)) {
      case Failure::queue_full: return "local producer queue is full";
      case Failure::broker_unreachable: return "Kafka broker unreachable or not acknowledging";
      case Failure::message_rejected: return "message rejected and cannot succeed";
      case Failure::fatal: return "fatal Kafka client error";
      case Failure::record_too_large: return "record larger than Kafka takes";
      case Failure::record_invalid: return "record Kafka finds invalid";
    }
    return "unknown Kafka failure";
  }
};

#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const KafkaCategory category;
  return category;
}

const boost::system::error_category& failure_category() noexcept {
  static const FailureCategory category;
  return category;
}

boost::system::error_code make_error_code(rd_kafka_resp_err_t err) noexcept {
  return {static_cast<int>(err), error_category()};
}

boost::system::error_condition make_error_condition(Failure failure) noexcept {
  return {static_cast<int>(failure), failure_category()};
}

bool belongs_to(rd_kafka_resp_err_t err, Failure failure) noexcept {
  switch (failure) {
    case Failure::queue_full: return err == RD_KAFKA_RESP_ERR__QUEUE_FULL;
    case Failure::broker_unreachable:
      switch (err) {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__RESOLVE:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND: return true;
        default: return false;
      }
    case Failure::message_rejected:
      switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
        default: return false;
      }
    case Failure::record_too_large:
      return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
             err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
    case Failure::record_invalid:
      return err == RD_KAFKA_RESP_ERR_INVALID_MSG || err == RD_KAFKA_RESP_ERR_INVALID_RECORD;
    case Failure::fatal:
      return err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__FENCED ||
             err == RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER ||
             err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
  }
  return false;
}

}  // namespace tracker::kafka
