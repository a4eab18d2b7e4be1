#pragma once
// librdkafka's rd_kafka_resp_err_t as a boost::system::error_code, and the few conditions that
// callers decide on. Compare codes with conditions, not with raw librdkafka values:
//
//   if (ec == tracker::kafka::Failure::queue_full) { /* answer 503 at once */ }
//   if (ec == tracker::kafka::Failure::broker_unreachable) { /* try again later */ }
#include <librdkafka/rdkafka.h>

#include <type_traits>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/error_condition.hpp>

namespace tracker::kafka {

enum class Failure {
  queue_full = 1,      // the local producer queue is at its bound: back off now
  broker_unreachable,  // no broker acknowledged in time, or none could be reached: retriable
  message_rejected,    // this message can never succeed (too large, unknown topic, not allowed)
  fatal,               // the client is unusable (idempotence violated, fenced): restart it
  // Narrower than message_rejected, about the record itself rather than the setup (an unknown
  // topic or a missing permission is fixed where the record is not):
  record_too_large,  // larger than the producer or the topic takes
  record_invalid,    // a record the broker finds invalid
};

const boost::system::error_category& error_category() noexcept;
const boost::system::error_category& failure_category() noexcept;

boost::system::error_code make_error_code(rd_kafka_resp_err_t err) noexcept;
boost::system::error_condition make_error_condition(Failure failure) noexcept;

// The condition a librdkafka error belongs to, if any.
bool belongs_to(rd_kafka_resp_err_t err, Failure failure) noexcept;

}  // namespace tracker::kafka

template <>
struct boost::system::is_error_condition_enum<tracker::kafka::Failure> : std::true_type {};
