#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <tracker/slack/request.hpp>

#include "fixtures.hpp"

using namespace tracker::slack;
using tracker::testing::fixture;

TEST(Classify, UrlVerificationCarriesTheChallenge) {
  auto r = classify(fixture("slack/url_verification.json"), BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<UrlVerification>(r));
  EXPECT_EQ(std::get<UrlVerification>(r).challenge,
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
}

TEST(Classify, AppRateLimitedNamesTheTeamAndMinute) {
  auto r = classify(fixture("slack/app_rate_limited.json"), BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<AppRateLimited>(r));
  EXPECT_EQ(std::get<AppRateLimited>(r).team_id, "T123456");
  EXPECT_EQ(std::get<AppRateLimited>(r).minute_rate_limited, 1518467820);
}

struct CallbackCase {
  const char* file;
  const char* event_id;
  const char* user_id;
};

class ClassifyCallback : public ::testing::TestWithParam<CallbackCase> {};

TEST_P(ClassifyCallback, FindsTheEventAndItsActingUser) {
  auto r = classify(fixture(std::string("slack/") + GetParam().file), BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<EventCallback>(r)) << GetParam().file;
  const auto& event = std::get<EventCallback>(r);
  EXPECT_EQ(event.event_id, GetParam().event_id);
  EXPECT_EQ(event.team_id, "T061EG9R6");
  EXPECT_EQ(event.user_id, GetParam().user_id);
  EXPECT_EQ(event.event_type, "message");
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ClassifyCallback,
    ::testing::Values(CallbackCase{"message.json", "Ev0PV52K21", "U2147483697"},
                      CallbackCase{"message_thread_reply.json", "Ev0PV52K22", "U2147483697"},
                      CallbackCase{"message_changed.json", "Ev0PV52K23", "U2147483697"},
                      CallbackCase{"message_deleted.json", "Ev0PV52K24", "U2147483697"},
                      CallbackCase{"bot_message.json", "Ev0PV52K25", "U0LAN0Z89"}));

struct MalformedCase {
  const char* body;
  const char* reason_part;
};

class ClassifyMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(ClassifyMalformed, SaysWhatIsWrong) {
  auto r = classify(GetParam().body, BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<Malformed>(r)) << GetParam().body;
  EXPECT_NE(std::get<Malformed>(r).reason.find(GetParam().reason_part), std::string::npos)
      << std::get<Malformed>(r).reason;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ClassifyMalformed,
    ::testing::Values(
        MalformedCase{"{not json", "not valid JSON"}, MalformedCase{"[1,2]", "not a JSON object"},
        MalformedCase{R"({"challenge":"x"})", "no type"},
        MalformedCase{R"({"type":"block_actions"})", "unknown envelope type \"block_actions\""},
        MalformedCase{R"({"type":"url_verification"})", "without challenge"},
        MalformedCase{R"({"type":"event_callback","team_id":"T","event":{"type":"message"}})",
                      "without event_id"},
        MalformedCase{R"({"type":"event_callback","event_id":"E","event":{"type":"message"}})",
                      "without team_id"},
        MalformedCase{R"({"type":"event_callback","event_id":"E","team_id":"T"})", "without event"},
        MalformedCase{R"({"type":"event_callback","event_id":"E","team_id":"T","event":{}})",
                      "event without type"}));

TEST(Classify, FormBodyIsAnSslCheckOnlyWithSslCheckOne) {
  EXPECT_TRUE(
      std::holds_alternative<SslCheck>(classify("ssl_check=1&token=abc", BodyFormat::form)));
  EXPECT_TRUE(
      std::holds_alternative<SslCheck>(classify("token=abc&ssl_check=1", BodyFormat::form)));
  EXPECT_TRUE(std::holds_alternative<Malformed>(classify("ssl_check=0", BodyFormat::form)));
  EXPECT_TRUE(std::holds_alternative<Malformed>(classify("command=%2Fstudy", BodyFormat::form)));
}

TEST(Classify, ReadsWhatALookupOfTheLastDuplicateWouldFind) {
  // The last of duplicate keys wins; a value of the wrong kind counts as absent.
  auto verification = classify(
      R"({"type":"event_callback","type":"url_verification","challenge":"c1"})", BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<UrlVerification>(verification));
  EXPECT_EQ(std::get<UrlVerification>(verification).challenge, "c1");
  auto gone = classify(
      R"({"type":"event_callback","event_id":"E","team_id":"T","event":{"type":"message"},"event":5})",
      BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<Malformed>(gone));
  EXPECT_EQ(std::get<Malformed>(gone).reason, "event_callback without event");
  auto no_id = classify(R"({"type":"event_callback","event_id":"E","event_id":7,"team_id":"T",)"
                        R"("event":{"type":"message"}})",
                        BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<Malformed>(no_id));
  EXPECT_EQ(std::get<Malformed>(no_id).reason, "event_callback without event_id");
}

TEST(Classify, TheActingUserIsTheEventsOwnNotOneNestedDeeper) {
  const auto user_of = [](const std::string& event) {
    auto r =
        classify(R"({"type":"event_callback","event_id":"E","team_id":"T","event":)" + event + "}",
                 BodyFormat::json);
    EXPECT_TRUE(std::holds_alternative<EventCallback>(r)) << event;
    return std::holds_alternative<EventCallback>(r) ? std::get<EventCallback>(r).user_id
                                                    : std::string("?");
  };
  EXPECT_EQ(user_of(R"({"type":"message","blocks":[{"user":"UX","elements":[{"user":"UY"}]}],)"
                    R"("user":"U1"})"),
            "U1");
  EXPECT_EQ(user_of(R"({"type":"message","blocks":[{"user":"UX"}]})"), "");
  // user_change: "user" is an object, so no acting user (the id is inside it).
  EXPECT_EQ(user_of(R"({"type":"user_change","user":{"id":"U5","tz":"Asia/Seoul"}})"), "");
  // An edit: the edited message's author; a deletion: the deleted one's.
  EXPECT_EQ(user_of(R"({"type":"message","subtype":"message_changed","message":{"user":"U2",)"
                    R"("text":"x"},"previous_message":{"user":"U3"}})"),
            "U2");
  EXPECT_EQ(user_of(R"({"type":"message","subtype":"message_deleted","previous_message":)"
                    R"({"user":"U3"}})"),
            "U3");
  EXPECT_EQ(user_of(R"({"type":"message","message":"not an object","previous_message":)"
                    R"({"user":"U3"}})"),
            "U3");
}

TEST(Classify, AppRateLimitedMinuteMayBeAnyInteger) {
  auto r = classify(R"({"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,)"
                    R"("api_app_id":"A1","token":"x"})",
                    BodyFormat::json);
  ASSERT_TRUE(std::holds_alternative<AppRateLimited>(r));
  EXPECT_EQ(std::get<AppRateLimited>(r).minute_rate_limited, 1518467820);
  auto text = classify(R"({"type":"app_rate_limited","team_id":"T1","minute_rate_limited":"soon"})",
                       BodyFormat::json);
  EXPECT_EQ(std::get<AppRateLimited>(text).minute_rate_limited, 0);
}

// Found by fuzz/ingest_handler: "{...}\0\"" was classified as an event (the JSON parser reads a
// NUL byte as the end of the input), ingest answered 200 once the broker had the envelope, and
// the envelope, with the whole body embedded, did not parse: the worker dead-lettered the event.
TEST(Classify, BodyWithANulByteIsNotJson) {
  const std::string raw = fixture("slack/message.json");
  for (const std::string& body :
       {raw + std::string(1, '\0') + "\"", std::string(1, '\0'), raw.substr(0, 20) + '\0' + raw}) {
    const auto classified = classify(body, BodyFormat::json);
    ASSERT_TRUE(std::holds_alternative<Malformed>(classified));
    EXPECT_EQ(std::get<Malformed>(classified).reason, "body is not valid JSON");
  }
}
