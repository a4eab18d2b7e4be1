#include <gtest/gtest.h>

#include <tracker/kafka/client_config.hpp>
#include <tracker/kafka/error.hpp>

using tracker::kafka::Failure;
using tracker::kafka::make_error_code;

TEST(KafkaError, QueueFullIsItsOwnCondition) {
  const auto ec = make_error_code(RD_KAFKA_RESP_ERR__QUEUE_FULL);
  EXPECT_TRUE(ec == Failure::queue_full);
  EXPECT_FALSE(ec == Failure::broker_unreachable);
}

TEST(KafkaError, TimeoutsAndTransportFailuresMeanBrokerUnreachable) {
  for (auto err : {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
                   RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS}) {
    EXPECT_TRUE(make_error_code(err) == Failure::broker_unreachable) << rd_kafka_err2name(err);
    EXPECT_FALSE(make_error_code(err) == Failure::queue_full);
  }
}

TEST(KafkaError, PermanentFailuresAreRejectedNotRetriable) {
  for (auto err : {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
                   RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED}) {
    EXPECT_TRUE(make_error_code(err) == Failure::message_rejected) << rd_kafka_err2name(err);
    EXPECT_FALSE(make_error_code(err) == Failure::broker_unreachable);
  }
  EXPECT_TRUE(make_error_code(RD_KAFKA_RESP_ERR__FATAL) == Failure::fatal);
}

// About the record itself (no retry stores it) rather than the setup (fixed elsewhere).
TEST(KafkaError, RecordFailuresAreToldApartFromSetupFailures) {
  for (auto err : {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
                   RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE}) {
    EXPECT_TRUE(make_error_code(err) == Failure::record_too_large) << rd_kafka_err2name(err);
    EXPECT_FALSE(make_error_code(err) == Failure::record_invalid) << rd_kafka_err2name(err);
  }
  for (auto err : {RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR_INVALID_RECORD}) {
    EXPECT_TRUE(make_error_code(err) == Failure::record_invalid) << rd_kafka_err2name(err);
    EXPECT_TRUE(make_error_code(err) == Failure::message_rejected) << rd_kafka_err2name(err);
  }
  for (auto err :
       {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED}) {
    EXPECT_FALSE(make_error_code(err) == Failure::record_too_large) << rd_kafka_err2name(err);
    EXPECT_FALSE(make_error_code(err) == Failure::record_invalid) << rd_kafka_err2name(err);
  }
}

TEST(KafkaError, MessagesComeFromLibrdkafka) {
  EXPECT_EQ(make_error_code(RD_KAFKA_RESP_ERR__QUEUE_FULL).message(),
            rd_kafka_err2str(RD_KAFKA_RESP_ERR__QUEUE_FULL));
  EXPECT_STREQ(make_error_code(RD_KAFKA_RESP_ERR__QUEUE_FULL).category().name(), "kafka");
  EXPECT_FALSE(make_error_code(RD_KAFKA_RESP_ERR_NO_ERROR));
}

TEST(KafkaConfig, UnknownSettingIsNamedInTheError) {
  try {
    tracker::kafka::make_conf({{"linger.msx", "5"}});
    FAIL() << "accepted an unknown setting";
  } catch (const tracker::kafka::ConfigurationError& error) {
    EXPECT_NE(std::string(error.what()).find("linger.msx"), std::string::npos);
  }
}
