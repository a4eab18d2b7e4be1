// slack-events records: what ingest writes, the worker reads.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>

#include "fixtures.hpp"

using tracker::messages::decode_envelope;
using tracker::messages::Delivery;
using tracker::messages::make_envelope;
using tracker::messages::partition_key;
using tracker::messages::raw_payload;
using tracker::slack::BodyFormat;
using tracker::slack::classify;
using tracker::slack::EventCallback;
using tracker::testing::fixture;

namespace {

// The record ingest publishes for tests/data/slack/message.json, as JSON to edit.
nlohmann::json message_envelope() {
  const std::string raw = fixture("slack/message.json");
  const auto event = std::get<EventCallback>(classify(raw, BodyFormat::json));
  return nlohmann::json::parse(make_envelope(
      event, raw,
      {.received_at =
           std::chrono::system_clock::time_point{std::chrono::milliseconds{1731974400123}},
       .retry_num = 2,
       .retry_reason = "http_timeout"}));
}

}  // namespace

TEST(Envelope, WrapsTheRawBodyWithDeliveryFacts) {
  const std::string raw = fixture("slack/message.json");
  const auto event = std::get<EventCallback>(classify(raw, BodyFormat::json));
  const Delivery delivery{
      .received_at =
          std::chrono::system_clock::time_point{std::chrono::milliseconds{1731974400123}},
      .retry_num = 1,
      .retry_reason = "http_timeout"};
  const std::string text = make_envelope(event, raw, delivery);
  const auto envelope = nlohmann::json::parse(text);
  EXPECT_EQ(envelope["schema"], "slack-event-envelope/v1");
  EXPECT_EQ(envelope["event_id"], "Ev0PV52K21");
  EXPECT_EQ(envelope["team_id"], "T061EG9R6");
  EXPECT_EQ(envelope["user_id"], "U2147483697");
  EXPECT_EQ(envelope["event_type"], "message");
  EXPECT_EQ(envelope["received_at"], "2024-11-19T00:00:00.123Z");
  EXPECT_EQ(envelope["retry_num"], 1);
  EXPECT_EQ(envelope["retry_reason"], "http_timeout");
  EXPECT_EQ(envelope["payload"], nlohmann::json::parse(raw));
  EXPECT_NE(text.find(raw), std::string::npos) << "the payload is not embedded byte for byte";
  EXPECT_EQ(partition_key(event), "T061EG9R6:U2147483697");
}

TEST(Envelope, FirstDeliveryHasRetryZeroAndNullReason) {
  const std::string raw = fixture("slack/message.json");
  const auto event = std::get<EventCallback>(classify(raw, BodyFormat::json));
  const auto envelope = nlohmann::json::parse(make_envelope(event, raw, Delivery{}));
  EXPECT_EQ(envelope["retry_num"], 0);
  EXPECT_TRUE(envelope["retry_reason"].is_null());
}

TEST(Envelope, MatchesItsJsonSchemaFile) {
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) +
                   "/schemas/messages/slack-event-envelope.v1.schema.json");
  ASSERT_TRUE(in);
  const auto schema = nlohmann::json::parse(in);
  const auto record = message_envelope();
  std::set<std::string> written;
  for (const auto& [key, value] : record.items()) written.insert(key);
  for (const auto& key : schema["required"]) EXPECT_TRUE(written.contains(key)) << key;
  for (const auto& key : written) EXPECT_TRUE(schema["properties"].contains(key)) << key;
  EXPECT_EQ(record["schema"], schema["properties"]["schema"]["const"]);
}

TEST(Envelope, DecodesWhatItEncodes) {
  const std::string raw = fixture("slack/message.json");
  const auto decoded = decode_envelope(message_envelope().dump());
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_EQ(decoded->event_id, "Ev0PV52K21");
  EXPECT_EQ(decoded->team_id, "T061EG9R6");
  EXPECT_EQ(decoded->user_id, "U2147483697");
  EXPECT_EQ(decoded->event_type, "message");
  EXPECT_EQ(decoded->received_at,
            std::chrono::system_clock::time_point{std::chrono::milliseconds{1731974400123}});
  EXPECT_EQ(decoded->retry_num, 2);
  EXPECT_EQ(decoded->retry_reason, "http_timeout");
  EXPECT_EQ(decoded->payload, nlohmann::json::parse(raw));
}

TEST(Envelope, OptionalFieldsMayBeAbsent) {
  auto record = message_envelope();
  for (const char* name : {"user_id", "event_type", "received_at", "retry_num", "retry_reason"}) {
    record.erase(name);
  }
  const auto decoded = decode_envelope(record.dump());
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_EQ(decoded->user_id, "");
  EXPECT_FALSE(decoded->received_at.has_value());
  EXPECT_EQ(decoded->retry_num, 0);
  EXPECT_FALSE(decoded->retry_reason.has_value());
}

TEST(Envelope, DeliveryMetadataOfTheWrongShapeIsLeftOutNotRefused) {
  // Ingest acknowledged the event: what it says about the delivery must not cost the row.
  auto record = message_envelope();
  record["user_id"] = 42;
  record["event_type"] = nullptr;
  record["received_at"] = "yesterday";
  record["retry_num"] = -1;
  record["retry_reason"] = 3;
  const auto decoded = decode_envelope(record.dump());
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_EQ(decoded->user_id, "");
  EXPECT_EQ(decoded->event_type, "");
  EXPECT_FALSE(decoded->received_at.has_value());
  EXPECT_EQ(decoded->retry_num, 0);
  EXPECT_FALSE(decoded->retry_reason.has_value());
  record["retry_num"] = 2'000'000;  // Slack's header, as ingest passed it on
  EXPECT_EQ(decode_envelope(record.dump())->retry_num, 2'000'000);
}

TEST(Envelope, DecodeNamesWhatIsWrong) {
  const auto record = message_envelope();
  const auto with = [&](const char* name, const nlohmann::json& value) {
    auto copy = record;
    if (value.is_null()) {
      copy.erase(name);
    } else {
      copy[name] = value;
    }
    return copy.dump();
  };
  struct Case {
    const char* name;
    std::string value;
    const char* reason;
    const char* detail;
  };
  const Case cases[] = {
      {"not JSON", "{\"schema\": ", "bad_json", "not JSON"},
      {"an array", "[1,2]", "bad_json", "not a JSON object"},
      {"no schema", with("schema", nullptr), "missing_field", "schema is missing"},
      {"future schema", with("schema", "slack-event-envelope/v2"), "unknown_schema",
       "unknown schema version \"slack-event-envelope/v2\""},
      {"no event_id", with("event_id", nullptr), "missing_field", "envelope.event_id is missing"},
      {"empty event_id", with("event_id", ""), "bad_value", "envelope.event_id is empty"},
      {"no payload", with("payload", nullptr), "missing_field", "envelope.payload is missing"},
      {"payload a string", with("payload", "{}"), "bad_value", "envelope.payload is not an object"},
      {"no team_id", with("team_id", nullptr), "missing_field", "envelope.team_id is missing"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto decoded = decode_envelope(c.value);
    ASSERT_TRUE(decoded.has_error());
    EXPECT_EQ(decoded.error().reason, c.reason);
    EXPECT_NE(decoded.error().detail.find(c.detail), std::string::npos) << decoded.error().detail;
  }
}

TEST(Envelope, RawPayloadIsTheSlackBodyByteForByte) {
  const std::string body = R"({"type":"event_callback","event":{"text":"a \",\"payload\": b"}})";
  const std::string envelope =
      R"({"schema":"slack-event-envelope/v1","event_id":"Ev1","retry_reason":"x\",\"payload\":",)"
      R"("payload":)" +
      body + "}";
  ASSERT_TRUE(raw_payload(envelope).has_value());
  EXPECT_EQ(*raw_payload(envelope), body);
  EXPECT_FALSE(raw_payload(R"({"schema":"x","value":1})").has_value());
  EXPECT_FALSE(raw_payload(R"({"payload":"text"})").has_value());
}

TEST(Envelope, FieldsWithQuotesBackslashesAndControlsStayValidJson) {
  const tracker::slack::EventCallback event{
      .event_id = "Ev\"1\\", .team_id = "T\n1", .user_id = "U\x01한", .event_type = "message"};
  const std::string envelope =
      tracker::messages::make_envelope(event, R"({"a":1})", {.received_at = {}});
  const auto parsed = nlohmann::json::parse(envelope, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << envelope;
  EXPECT_EQ(parsed["event_id"], "Ev\"1\\");
  EXPECT_EQ(parsed["team_id"], "T\n1");
  EXPECT_EQ(parsed["user_id"], "U\x01한");
  EXPECT_EQ(parsed["schema"], "slack-event-envelope/v1");
}

// Found by fuzz/messages: json::parse threw out_of_range (not a parse_error) for a number no
// double holds, and the exception escaped decode_envelope, which the worker relies on not to throw.
TEST(Envelope, NumberNoDoubleHoldsIsBadJsonNotAnException) {
  auto record = message_envelope().dump();
  record.replace(record.find("\"retry_num\":2"), 13, "\"retry_num\":1e999");
  const auto decoded = decode_envelope(record);
  ASSERT_TRUE(decoded.has_error());
  EXPECT_EQ(decoded.error().reason, "bad_json");
}

// Found by fuzz/worker_event: a received_at past 2262 overflowed system_clock; it is delivery
// metadata, so the record still decodes, without it.
TEST(Envelope, ReceivedAtBeyondTheClockIsLeftOut) {
  auto record = message_envelope();
  record["received_at"] = "9436-11-19T00:00:01.250Z";
  const auto decoded = decode_envelope(record.dump());
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_FALSE(decoded->received_at.has_value());
}

// Found by fuzz/ingest_handler: ingest accepts a signed body with whitespace around the object
// (valid JSON) and embeds it byte for byte, but raw_payload refused such an envelope, so
// tracker-replay --to-ingest counted the event "not_an_envelope" and did not replay it.
TEST(Envelope, RawPayloadKeepsWhitespaceAroundTheBody) {
  const std::string raw = fixture("slack/message.json");
  const auto event = std::get<EventCallback>(classify(raw, BodyFormat::json));
  for (const std::string& body : {raw + "\n", " \r\n\t" + raw + " \n"}) {
    ASSERT_TRUE(std::holds_alternative<EventCallback>(classify(body, BodyFormat::json)));
    const std::string envelope = make_envelope(event, body, {.received_at = {}});
    const auto payload = raw_payload(envelope);
    ASSERT_TRUE(payload.has_value());
    EXPECT_EQ(*payload, body);
    EXPECT_TRUE(decode_envelope(envelope).has_value());
  }
  EXPECT_FALSE(raw_payload(R"({"schema":"x","payload": })").has_value());
}

// Found by fuzz/ingest_handler's invariant (a published envelope decodes) with a body that starts
// with a UTF-8 byte order mark: classify() accepts it (the JSON parser skips the mark), ingest
// answered 200 once the broker had the record, and the worker could not decode the record.
TEST(Envelope, BodyWithAByteOrderMarkMakesADecodableEnvelope) {
  const std::string raw = fixture("slack/message.json");
  const std::string body = "\xEF\xBB\xBF" + raw;
  const auto classified = classify(body, BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<EventCallback>(classified));
  const std::string envelope =
      make_envelope(std::get<EventCallback>(classified), body, {.received_at = {}});
  const auto decoded = decode_envelope(envelope);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_EQ(decoded->payload, nlohmann::json::parse(raw));
  EXPECT_EQ(raw_payload(envelope), std::optional<std::string_view>(raw));
}
