// Decoding slack-events records: every Slack sample of tests/data/slack/ wrapped the way ingest
// wraps it, plus the cases the samples do not cover.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>

#include <tracker/worker/event.hpp>
#include "fixtures.hpp"

namespace {

using namespace tracker::worker;
using nlohmann::json;
using tracker::testing::fixture;

const auto kReceived = std::chrono::system_clock::time_point{std::chrono::seconds{1731974401}} +
                       std::chrono::milliseconds{250};

// The record ingest publishes for `body`.
std::string envelope_of(const std::string& body) {
  const auto request = tracker::slack::classify(body, tracker::slack::BodyFormat::json);
  const auto* callback = std::get_if<tracker::slack::EventCallback>(&request);
  if (callback == nullptr) throw std::runtime_error("not an event_callback: " + body);
  return tracker::messages::make_envelope(*callback, body, {.received_at = kReceived});
}

std::string event_sample(const std::string& name) {
  return envelope_of(fixture("slack/" + name));
}

// A message event_callback with `event` merged over a plain channel message.
std::string message_with(const json& event_overrides, const json& payload_overrides = {}) {
  json payload = json::parse(fixture("slack/message.json"));
  for (const auto& [key, value] : event_overrides.items()) {
    if (value.is_null()) {
      payload["event"].erase(key);
    } else {
      payload["event"][key] = value;
    }
  }
  for (const auto& [key, value] : payload_overrides.items()) payload[key] = value;
  return envelope_of(payload.dump());
}

Micros at(std::int64_t seconds, std::int64_t micros) {
  return Micros{std::chrono::microseconds{seconds * 1'000'000 + micros}};
}

Event event_of(const Decoded& decoded) {
  if (decoded.has_error()) {
    throw std::runtime_error("decoded as poison: " + decoded.error().detail);
  }
  return *decoded;
}

TEST(SlackTs, ConvertsExactlyToTheMicrosecond) {
  EXPECT_EQ(parse_slack_ts("1731974400.000200"), at(1731974400, 200));
  EXPECT_EQ(parse_slack_ts("1731974400.999999"), at(1731974400, 999'999));
  EXPECT_EQ(parse_slack_ts("1731974400.5"), at(1731974400, 500'000));
  EXPECT_EQ(parse_slack_ts("1731974400"), at(1731974400, 0));
  EXPECT_EQ(format_utc(at(1731974400, 200)), "2024-11-19T00:00:00.000200Z");
  EXPECT_EQ(format_utc(at(0, 0)), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_utc(at(1709164799, 999'999)), "2024-02-28T23:59:59.999999Z");
}

TEST(SlackTs, RejectsWhatIsNotATimestamp) {
  for (const char* bad :
       {"", ".", "1731974400.", ".000200", "1731974400.0000001", "-1.000000", "17319744OO.000200",
        "1731974400.000200 ", "1e9", "0x10.000000", "99999999999999.000000"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_slack_ts(bad).has_value());
  }
}

TEST(Decode, NewMessageSample) {
  const Event event = event_of(decode(event_sample("message.json"), {}));
  EXPECT_EQ(event.event_id, "Ev0PV52K21");
  EXPECT_EQ(event.received_at, kReceived);
  const auto& write = std::get<MessageWrite>(event.action);
  EXPECT_EQ(write.change, Change::message);
  EXPECT_EQ(write.team_id, "T061EG9R6");
  EXPECT_EQ(write.channel_id, "C024BE91L");
  EXPECT_EQ(write.user_id, "U2147483697");
  EXPECT_EQ(write.ts, "1731974400.000200");
  EXPECT_EQ(write.posted_at, at(1731974400, 200));
  EXPECT_EQ(write.version_at, write.posted_at);
  EXPECT_FALSE(write.edited_at.has_value());
  EXPECT_FALSE(write.thread_ts.has_value());
  EXPECT_EQ(write.text, "Studied Kafka consumer groups for 2h #kafka");
  EXPECT_EQ(write.hints.minutes, 120);
  EXPECT_EQ(write.hints.topics, std::vector<std::string>{"kafka"});
}

TEST(Decode, ThreadReplySample) {
  const auto write = std::get<MessageWrite>(
      event_of(decode(event_sample("message_thread_reply.json"), {})).action);
  EXPECT_EQ(write.change, Change::reply);
  EXPECT_EQ(write.ts, "1731975000.000300");
  EXPECT_EQ(write.thread_ts, "1731974400.000200");
  EXPECT_EQ(write.hints.minutes, 40);
}

TEST(Decode, EditSampleCarriesTheNewTextAndTheEditTime) {
  const Event event = event_of(decode(event_sample("message_changed.json"), {}));
  const auto& write = std::get<MessageWrite>(event.action);
  EXPECT_EQ(write.change, Change::edit);
  EXPECT_EQ(write.ts, "1731974400.000200");  // the edited message, not the event
  EXPECT_EQ(write.posted_at, at(1731974400, 200));
  EXPECT_EQ(write.edited_at, at(1731975100, 0));
  // Ordered by the change event's ts, which has microseconds; edited.ts has whole seconds.
  EXPECT_EQ(write.version_at, at(1731975100, 400));
  EXPECT_EQ(write.text, "Studied Kafka consumer groups for 3h #kafka");
  EXPECT_EQ(write.hints.minutes, 180);
  EXPECT_EQ(write.user_id, "U2147483697");
}

TEST(Decode, TwoEditsWithinOneSecondAreOrderedByTheirEvents) {
  json first = json::parse(fixture("slack/message_changed.json"));
  json second = first;
  first["event"]["ts"] = "1731975100.100000";
  second["event"]["ts"] = "1731975100.900000";
  second["event"]["message"]["text"] = "Studied Kafka consumer groups for 4h #kafka";
  const Decoded first_decoded = decode(envelope_of(first.dump()), {});
  const Decoded second_decoded = decode(envelope_of(second.dump()), {});
  const auto& a = std::get<MessageWrite>(first_decoded->action);
  const auto& b = std::get<MessageWrite>(second_decoded->action);
  EXPECT_EQ(a.edited_at, b.edited_at);  // Slack's edited.ts: the same second
  EXPECT_LT(a.version_at, b.version_at);
}

TEST(Decode, AnEditInTheSecondOfItsPostIsNewerThanThePost) {
  json edit = json::parse(fixture("slack/message_changed.json"));
  edit["event"]["message"]["ts"] = "1731975100.700000";
  edit["event"]["ts"] = "1731975100.900000";
  const Decoded decoded = decode(envelope_of(edit.dump()), {});
  const auto& write = std::get<MessageWrite>(decoded->action);
  EXPECT_GT(write.version_at, write.posted_at);
}

TEST(Decode, ADeletedThreadParentBecomesATombstone) {
  // A parent with replies is not removed: Slack replaces it with a tombstone message.
  json change = json::parse(fixture("slack/message_changed.json"));
  change["event"]["message"] = {{"type", "message"},
                                {"subtype", "tombstone"},
                                {"user", "USLACKBOT"},
                                {"hidden", true},
                                {"text", "This message was deleted."},
                                {"ts", "1731974400.000200"},
                                {"thread_ts", "1731974400.000200"},
                                {"reply_count", 1}};
  const auto deletion =
      std::get<MessageDeletion>(event_of(decode(envelope_of(change.dump()), {})).action);
  EXPECT_EQ(deletion.ts, "1731974400.000200");
  EXPECT_EQ(deletion.deleted_at, at(1731975100, 400));
  EXPECT_EQ(deletion.user_id, "U2147483697") << "the author, from previous_message";
}

TEST(Decode, DeletionSample) {
  const auto deletion =
      std::get<MessageDeletion>(event_of(decode(event_sample("message_deleted.json"), {})).action);
  EXPECT_EQ(deletion.ts, "1731974400.000200");
  EXPECT_EQ(deletion.posted_at, at(1731974400, 200));
  EXPECT_EQ(deletion.deleted_at, at(1731975200, 500));
  EXPECT_EQ(deletion.user_id, "U2147483697");
  EXPECT_EQ(deletion.channel_id, "C024BE91L");
}

TEST(Decode, BotSampleIsSkipped) {
  const auto skip = std::get<Skip>(event_of(decode(event_sample("bot_message.json"), {})).action);
  EXPECT_EQ(skip.reason, "bot");
}

TEST(Decode, RequestsThatAreNotEventsNeverReachTheTopicAndArePoisonIfTheyDo) {
  for (const char* name : {"url_verification.json", "app_rate_limited.json"}) {
    SCOPED_TRACE(name);
    const std::string body = fixture(std::string("slack/") + name);
    EXPECT_FALSE(std::holds_alternative<tracker::slack::EventCallback>(
        tracker::slack::classify(body, tracker::slack::BodyFormat::json)));
    const Decoded decoded = decode(body, {});
    ASSERT_TRUE(decoded.has_error());
    EXPECT_EQ(decoded.error().reason, "missing_field");
    EXPECT_EQ(decoded.error().detail, "schema is missing");
  }
}

struct SkipCase {
  const char* name;
  std::string record;
  Filter filter;
  std::string reason;
  std::string subtype;
};

TEST(Decode, SkipsWhatIsNotAStudyLog) {
  const json edit = json::parse(fixture("slack/message_changed.json"));
  json unfurl = edit;
  unfurl["event"]["message"].erase("edited");
  json bot_edit = edit;
  bot_edit["event"]["message"]["bot_id"] = "B1";
  json bot_deletion = json::parse(fixture("slack/message_deleted.json"));
  bot_deletion["event"]["previous_message"]["subtype"] = "bot_message";
  json reaction = json::parse(fixture("slack/message.json"));
  reaction["event"] = {{"type", "reaction_added"},
                       {"user", "U2147483697"},
                       {"reaction", "tada"},
                       {"event_ts", "1731974500.000100"}};
  const std::vector<SkipCase> cases = {
      {"channel join", message_with({{"subtype", "channel_join"}}), {}, "subtype", "channel_join"},
      {"topic change",
       message_with({{"subtype", "channel_topic"}}),
       {},
       "subtype",
       "channel_topic"},
      {"bot_message subtype",
       message_with({{"subtype", "bot_message"}, {"user", nullptr}}),
       {},
       "bot",
       ""},
      {"bot_id on a plain message", message_with({{"bot_id", "B9"}}), {}, "bot", ""},
      {"the tracker's own user", message_with({{"user", "U0LAN0Z89"}}), {}, "own_post", ""},
      {"link unfurl", envelope_of(unfurl.dump()), {}, "unedited_change", ""},
      {"bot edit", envelope_of(bot_edit.dump()), {}, "bot", ""},
      {"bot deletion", envelope_of(bot_deletion.dump()), {}, "bot", ""},
      {"another event type", envelope_of(reaction.dump()), {}, "event_type", "reaction_added"},
      {"unwatched channel",
       event_sample("message.json"),
       {.channels = {"C999"}},
       "channel_not_watched",
       ""},
      {"other workspace",
       event_sample("message.json"),
       {.team_ids = {"T999"}},
       "team_not_allowed",
       ""},
      {"other app", event_sample("message.json"), {.app_ids = {"A999"}}, "app_not_allowed", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Event event = event_of(decode(c.record, c.filter));
    const auto* skip = std::get_if<Skip>(&event.action);
    ASSERT_NE(skip, nullptr);
    EXPECT_EQ(skip->reason, c.reason);
    EXPECT_EQ(skip->subtype, c.subtype);
  }
}

TEST(Decode, KeepsAuthoredSubtypesAndAllowedFilters) {
  for (const char* subtype : {"thread_broadcast", "file_share", "me_message"}) {
    SCOPED_TRACE(subtype);
    EXPECT_TRUE(std::holds_alternative<MessageWrite>(
        event_of(decode(message_with({{"subtype", subtype}}), {})).action));
  }
  const Filter filter{
      .channels = {"C1", "C024BE91L"}, .team_ids = {"T061EG9R6"}, .app_ids = {"A0PNCHHK2"}};
  EXPECT_TRUE(std::holds_alternative<MessageWrite>(
      event_of(decode(event_sample("message.json"), filter)).action));
  // Filters apply to edits and deletions as well.
  EXPECT_TRUE(std::holds_alternative<Skip>(
      event_of(decode(event_sample("message_deleted.json"), {.channels = {"C1"}})).action));
}

TEST(Decode, KoreanMessage) {
  const auto write = std::get<MessageWrite>(
      event_of(decode(message_with({{"text", "오늘 카프카 공부 1시간 30분 #kafka #스터디"}}), {}))
          .action);
  EXPECT_EQ(write.text, "오늘 카프카 공부 1시간 30분 #kafka #스터디");
  EXPECT_EQ(write.hints.minutes, 90);
  EXPECT_EQ(write.hints.topics, (std::vector<std::string>{"kafka", "스터디"}));
}

TEST(Decode, MessageWithoutTextIsKeptWithEmptyText) {
  const auto write =
      std::get<MessageWrite>(event_of(decode(message_with({{"text", nullptr}}), {})).action);
  EXPECT_EQ(write.text, "");
  EXPECT_FALSE(write.hints.minutes.has_value());
}

struct PoisonCase {
  const char* name;
  std::string record;
  std::string reason;
  std::string error_contains;
};

TEST(Decode, PoisonRecordsSayWhatIsWrong) {
  json envelope = json::parse(event_sample("message.json"));
  auto with = [&](const char* pointer, const json& value) {
    json copy = envelope;
    if (value.is_null()) {
      copy.erase(copy.find(json::json_pointer(pointer).back()));
    } else {
      copy[json::json_pointer(pointer)] = value;
    }
    return copy.dump();
  };
  json no_ts = envelope;
  no_ts["payload"]["event"].erase("ts");
  json no_channel = envelope;
  no_channel["payload"]["event"].erase("channel");
  json no_payload = envelope;
  no_payload.erase("payload");
  json edit_without_message = json::parse(event_sample("message_changed.json"));
  edit_without_message["payload"]["event"].erase("message");
  json deletion_without_ts = json::parse(event_sample("message_deleted.json"));
  deletion_without_ts["payload"]["event"].erase("deleted_ts");
  const std::vector<PoisonCase> cases = {
      {"not JSON", "{\"schema\": ", "bad_json", "not JSON"},
      {"binary", std::string("\x00\x01\xff", 3), "bad_json", "not JSON"},
      {"an array", "[1,2]", "bad_json", "not a JSON object"},
      {"no schema", with("/schema", nullptr), "missing_field", "schema is missing"},
      {"future schema", with("/schema", "slack-event-envelope/v2"), "unknown_schema",
       "unknown schema version \"slack-event-envelope/v2\""},
      {"schema not a string", with("/schema", 1), "unknown_schema", "unknown schema version 1"},
      {"no event_id", with("/event_id", nullptr), "missing_field", "envelope.event_id is missing"},
      {"event_id a number", with("/event_id", 5), "bad_value", "envelope.event_id is not a string"},
      {"no payload", no_payload.dump(), "missing_field", "envelope.payload is missing"},
      {"no ts", no_ts.dump(), "missing_field", "event.ts is missing"},
      {"bad ts", with("/payload/event/ts", "yesterday"), "bad_value",
       "event.ts is not a Slack timestamp: \"yesterday\""},
      {"no channel", no_channel.dump(), "missing_field", "event.channel is missing"},
      {"no user", with("/payload/event/user", ""), "bad_value", "event.user is empty"},
      {"edit without message", edit_without_message.dump(), "missing_field",
       "event.message is missing"},
      {"deletion without deleted_ts", deletion_without_ts.dump(), "missing_field",
       "event.deleted_ts is missing"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Decoded decoded = decode(c.record, {});
    ASSERT_TRUE(decoded.has_error());
    const tracker::messages::DecodeError poison = decoded.error();
    EXPECT_EQ(poison.reason, c.reason);
    EXPECT_NE(poison.detail.find(c.error_contains), std::string::npos) << poison.detail;
  }
}

}  // namespace
