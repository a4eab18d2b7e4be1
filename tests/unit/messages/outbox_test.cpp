// slack-outbox records: what the summarizer writes, the notifier reads.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include <tracker/messages/outbox.hpp>

using tracker::messages::decode_outbox;
using tracker::messages::DecodeError;
using tracker::messages::DecodeException;
using tracker::messages::encode_outbox;
using tracker::messages::is_user_id;
using tracker::messages::outbox_key;
using tracker::messages::OutboxMessage;

TEST(Outbox, RoundTrips) {
  OutboxMessage message{.delivery_id = "summary:42:1",
                        .team_id = "T1",
                        .channel = "U123",
                        .text = "오늘 3시간 공부했어요",
                        .thread_ts = "1733000000.000100"};
  message.created_at =
      std::chrono::system_clock::time_point{std::chrono::milliseconds{1733000000123}};
  const auto decoded = decode_outbox(encode_outbox(message));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  const OutboxMessage& back = *decoded;
  EXPECT_EQ(back.delivery_id, message.delivery_id);
  EXPECT_EQ(back.channel, "U123");
  EXPECT_EQ(back.text, message.text);
  EXPECT_EQ(back.thread_ts, message.thread_ts);
  EXPECT_EQ(back.created_at, message.created_at);
  EXPECT_TRUE(is_user_id(back.channel));
}

TEST(Outbox, RejectsBadRecordsWithTheField) {
  struct Case {
    const char* value;
    const char* reason;
    const char* mentions;
  };
  const Case cases[] = {
      {"not json", "invalid_json", "JSON"},
      {R"({"schema":"slack-outbox/v2"})", "unknown_schema", "v2"},
      {R"({"delivery_id":"d"})", "missing_field", "schema"},
      {R"({"schema":"slack-outbox/v1","team_id":"T","channel":"C1","text":"x"})", "missing_field",
       "delivery_id"},
      {R"({"schema":"slack-outbox/v1","delivery_id":"d","team_id":"T","channel":"C1","text":""})",
       "invalid_field", "text"},
      {R"({"schema":"slack-outbox/v1","delivery_id":"d","team_id":"T","channel":"#general","text":"x"})",
       "invalid_field", "channel"},
      {R"({"schema":"slack-outbox/v1","delivery_id":"d","team_id":"T","channel":"C1","text":"x","thread_ts":"yesterday"})",
       "invalid_field", "thread_ts"},
      {R"({"schema":"slack-outbox/v1","delivery_id":"d","team_id":"T","channel":"C1","text":"x","blocks":{}})",
       "invalid_field", "blocks"},
      {R"({"schema":"slack-outbox/v1","delivery_id":"d","team_id":"T","channel":"C1","text":"x","created_at":"today"})",
       "invalid_field", "created_at"},
      {R"({"schema":"slack-outbox/v1","delivery_id":7,"team_id":"T","channel":"C1","text":"x"})",
       "invalid_field", "delivery_id"},
  };
  for (const auto& c : cases) {
    const auto decoded = decode_outbox(c.value);
    ASSERT_TRUE(decoded.has_error()) << c.value;
    const DecodeError error = decoded.error();
    EXPECT_EQ(error.reason, c.reason) << c.value;
    EXPECT_NE(error.detail.find(c.mentions), std::string::npos) << error.detail;
  }
}

TEST(Outbox, MatchesItsJsonSchemaFile) {
  // Every field the encoder writes is a property of the schema, and every required one is written.
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) +
                   "/schemas/messages/slack-outbox.v1.schema.json");
  ASSERT_TRUE(in);
  const auto schema = nlohmann::json::parse(in);
  OutboxMessage message{.delivery_id = "summary:42:1",
                        .team_id = "T1",
                        .channel = "C123",
                        .text = "x",
                        .blocks = nlohmann::json::array({{{"type", "divider"}}}),
                        .thread_ts = "1733000000.000100",
                        .created_at = std::chrono::system_clock::now(),
                        .origin = nlohmann::json{{"job_id", "j"}}};
  const auto record = nlohmann::json::parse(encode_outbox(message));
  for (const auto& [key, value] : record.items()) {
    EXPECT_TRUE(schema["properties"].contains(key)) << key;
  }
  for (const auto& key : schema["required"]) EXPECT_TRUE(record.contains(key)) << key;
  EXPECT_EQ(record["schema"], schema["properties"]["schema"]["const"]);
}

TEST(Outbox, ValueThrowsTheDecodeError) {
  const auto decoded = decode_outbox("not json");
  try {
    (void)decoded.value();
    FAIL() << "value() of an error returned";
  } catch (const DecodeException& error) {
    EXPECT_EQ(error.error().reason, "invalid_json");
  }
}

TEST(Outbox, KeyIsTheWorkspace) {
  const OutboxMessage message{.delivery_id = "d", .team_id = "T9", .channel = "C1", .text = "x"};
  EXPECT_EQ(outbox_key(message), "T9");
}
