#pragma once
// Asking the cluster about one topic, shared by Admin and Producer. Blocking up to `timeout`.
#include <librdkafka/rdkafka.h>

#include <chrono>

#include <boost/system/error_code.hpp>

#include <tracker/kafka/error.hpp>

namespace tracker::kafka::detail {

// The partition count of `topic` as the broker describes it now. A negative error value is
// librdkafka's own (no broker answered in time); a positive one is the broker's answer about the
// topic (it does not exist, it is not authorised).
inline boost::system::error_code topic_partitions(rd_kafka_t* client, rd_kafka_topic_t* topic,
                                                  std::chrono::milliseconds timeout, int& count) {
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err =
      rd_kafka_metadata(client, 0, topic, &metadata, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return make_error_code(err);
  boost::system::error_code result;
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = make_error_code(metadata->topic_cnt == 1 ? metadata->topics[0].err
                                                      : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC);
  } else {
    count = metadata->topics[0].partition_cnt;
  }
  rd_kafka_metadata_destroy(metadata);
  return result;
}

}  // namespace tracker::kafka::detail
