// IngestHandler without a network: signed requests in, responses and published messages out.
#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>
#include <boost/asio/io_context.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include <tracker/http/form.hpp>
#include <tracker/messages/command.hpp>
#include <tracker/slack/signature.hpp>

#include <tracker/ingest/ingest_handler.hpp>
#include <tracker/ingest/settings.hpp>
#include "fixtures.hpp"
#include "run.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using tracker::http::Request;
using tracker::http::Response;
using tracker::ingest::PublishOutcome;
using tracker::testing::fixture;
using tracker::testing::run;

namespace {

constexpr std::int64_t kNow = 1731974400;
constexpr const char* kSecret = "8f742231b10e8888abcd99yyyzzz85a5";

class RecordingPublisher final : public tracker::ingest::EventPublisher {
 public:
  asio::awaitable<PublishOutcome> publish(tracker::kafka::OutgoingMessage message) override {
    published.push_back(std::move(message));
    co_return outcome;
  }
  [[nodiscard]] bool ready() const override { return true; }

  PublishOutcome outcome = PublishOutcome::published;
  std::vector<tracker::kafka::OutgoingMessage> published;
};

struct Handler : ::testing::Test {
  asio::io_context io;
  prometheus::Registry registry;
  RecordingPublisher publisher;
  tracker::ingest::IngestHandler handler{
      tracker::slack::SignatureVerifier(
          tracker::config::Secret(kSecret), {},
          [] { return std::chrono::system_clock::time_point{std::chrono::seconds{kNow}}; }),
      publisher,
      "slack-events",
      registry,
      tracker::log::null_logger(),
      [] { return std::chrono::system_clock::time_point{std::chrono::seconds{kNow}}; }};

  static Request signed_request(std::string body, std::string content_type = "application/json",
                                std::int64_t timestamp = kNow) {
    Request request{bh::verb::post, "/slack/events", 11};
    request.set(bh::field::content_type, content_type);
    const std::string ts = std::to_string(timestamp);
    request.set("X-Slack-Request-Timestamp", ts);
    request.set("X-Slack-Signature", tracker::slack::sign(kSecret, ts, body));
    request.body() = std::move(body);
    request.prepare_payload();
    return request;
  }
  Response handle(Request request) { return run(io, handler.handle(request)); }
  std::string metrics() { return prometheus::TextSerializer().Serialize(registry.Collect()); }
};

bool is_small_json_error(const Response& response, const char* code) {
  const auto body = nlohmann::json::parse(response.body(), nullptr, false);
  return response[bh::field::content_type] == "application/json" && body.is_object() &&
         body.value("error", "") == code && body.contains("detail") && response.body().size() < 512;
}

}  // namespace

TEST_F(Handler, SignedEventIsPublishedOnceWithUserKeyAndEnvelopeThen200) {
  const std::string raw = fixture("slack/message.json");
  auto response = handle(signed_request(raw));
  EXPECT_EQ(response.result(), bh::status::ok);
  ASSERT_EQ(publisher.published.size(), 1U);
  const auto& message = publisher.published[0];
  EXPECT_EQ(message.topic, "slack-events");
  EXPECT_EQ(message.key, "T061EG9R6:U2147483697");
  const auto envelope = nlohmann::json::parse(message.value);
  EXPECT_EQ(envelope["event_id"], "Ev0PV52K21");
  EXPECT_EQ(envelope["retry_num"], 0);
  EXPECT_EQ(envelope["payload"], nlohmann::json::parse(raw));
  EXPECT_NE(metrics().find(R"(tracker_ingest_publish_total{outcome="published"} 1)"),
            std::string::npos);
}

TEST_F(Handler, SlackRetryIsPublishedWithItsNumberAndReason) {
  auto request = signed_request(fixture("slack/message.json"));
  request.set("X-Slack-Retry-Num", "1");
  request.set("X-Slack-Retry-Reason", "http_timeout");
  EXPECT_EQ(handle(std::move(request)).result(), bh::status::ok);
  ASSERT_EQ(publisher.published.size(), 1U);
  const auto envelope = nlohmann::json::parse(publisher.published[0].value);
  EXPECT_EQ(envelope["retry_num"], 1);
  EXPECT_EQ(envelope["retry_reason"], "http_timeout");
  EXPECT_NE(metrics().find(R"(tracker_ingest_slack_retries_total{reason="http_timeout"} 1)"),
            std::string::npos);
}

// X-Slack-Retry-Reason is outside the signature: a reason Slack does not document is kept in
// the envelope but counted as "other", so that no header text becomes a time series of its own.
TEST_F(Handler, RetryReasonsSlackDoesNotDocumentAreCountedAsOther) {
  const std::string reasons[] = {"ssl_error", "made-up-1", "made-up-2", ""};
  for (const auto& reason : reasons) {
    auto request = signed_request(fixture("slack/message.json"));
    request.set("X-Slack-Retry-Num", "2");
    request.set("X-Slack-Retry-Reason", reason);
    EXPECT_EQ(handle(std::move(request)).result(), bh::status::ok) << reason;
  }
  ASSERT_EQ(publisher.published.size(), 4U);
  EXPECT_EQ(nlohmann::json::parse(publisher.published[1].value)["retry_reason"], "made-up-1");
  const std::string text = metrics();
  EXPECT_NE(text.find(R"(tracker_ingest_slack_retries_total{reason="ssl_error"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(tracker_ingest_slack_retries_total{reason="other"} 2)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(tracker_ingest_slack_retries_total{reason="unknown"} 1)"),
            std::string::npos);
  EXPECT_EQ(text.find("made-up"), std::string::npos);
}

TEST_F(Handler, EventNotDurableIs503WithoutNoRetrySoSlackRetries) {
  for (auto outcome :
       {PublishOutcome::queue_full, PublishOutcome::broker_down, PublishOutcome::timed_out,
        PublishOutcome::broker_unreachable, PublishOutcome::rejected}) {
    publisher.outcome = outcome;
    auto response = handle(signed_request(fixture("slack/message.json")));
    EXPECT_EQ(response.result(), bh::status::service_unavailable) << to_string(outcome);
    EXPECT_EQ(response.find("x-slack-no-retry"), response.end()) << to_string(outcome);
    EXPECT_EQ(response[bh::field::retry_after], "1") << to_string(outcome);
    EXPECT_TRUE(is_small_json_error(response, "not_durable"));
  }
  EXPECT_NE(metrics().find(R"(tracker_ingest_publish_total{outcome="queue_full"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics().find(R"(tracker_ingest_publish_total{outcome="broker_down"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics().find(R"(tracker_ingest_publish_total{outcome="timed_out"} 1)"),
            std::string::npos);
}

// What the producer refuses for good is never a retryable 503: Slack would retry it in vain.
TEST_F(Handler, EventRefusedForGoodIsNotRetried) {
  publisher.outcome = PublishOutcome::too_large;
  auto too_large = handle(signed_request(fixture("slack/message.json")));
  EXPECT_EQ(too_large.result(), bh::status::payload_too_large);
  EXPECT_EQ(too_large["x-slack-no-retry"], "1");
  EXPECT_TRUE(is_small_json_error(too_large, "event_too_large"));

  publisher.outcome = PublishOutcome::invalid;
  auto invalid = handle(signed_request(fixture("slack/message.json")));
  EXPECT_EQ(invalid.result(), bh::status::internal_server_error);
  EXPECT_EQ(invalid["x-slack-no-retry"], "1");
  EXPECT_TRUE(is_small_json_error(invalid, "not_storable"));
  EXPECT_NE(metrics().find(R"(tracker_ingest_publish_total{outcome="invalid"} 1)"),
            std::string::npos);
}

// An envelope larger than a record may be is refused before the producer is asked.
TEST(HandlerLimits, EventWhoseRecordWouldBeTooLargeIs413BeforePublishing) {
  asio::io_context io;
  prometheus::Registry registry;
  RecordingPublisher publisher;
  const auto clock = [] {
    return std::chrono::system_clock::time_point{std::chrono::seconds{kNow}};
  };
  const std::string raw = fixture("slack/message.json");
  // Room for the body and its envelope, give or take a byte of text.
  tracker::kafka::OutgoingMessage probe{.key = "T061EG9R6:U2147483697",
                                        .value = std::string(raw.size() + 400, 'x')};
  const std::size_t limit = tracker::kafka::record_size(probe);
  tracker::ingest::IngestHandler handler(
      tracker::slack::SignatureVerifier(tracker::config::Secret(kSecret), {}, clock), publisher,
      "slack-events", registry, tracker::log::null_logger(), clock, limit);

  auto fits = Handler::signed_request(raw);
  EXPECT_EQ(run(io, handler.handle(fits)).result(), bh::status::ok);
  ASSERT_EQ(publisher.published.size(), 1U);
  EXPECT_LE(tracker::kafka::record_size(publisher.published[0]), limit);

  // The same event with 1,000 more bytes of text: no record can hold it.
  auto body = nlohmann::json::parse(raw);
  body["event"]["text"] = body["event"]["text"].get<std::string>() + std::string(1000, 'a');
  auto too_big = Handler::signed_request(body.dump());
  const auto response = run(io, handler.handle(too_big));
  EXPECT_EQ(response.result(), bh::status::payload_too_large);
  EXPECT_EQ(response["x-slack-no-retry"], "1");
  EXPECT_TRUE(is_small_json_error(response, "event_too_large"));
  EXPECT_EQ(publisher.published.size(), 1U) << "nothing more was offered to Kafka";
  EXPECT_NE(prometheus::TextSerializer()
                .Serialize(registry.Collect())
                .find(R"(tracker_ingest_publish_total{outcome="too_large"} 1)"),
            std::string::npos);
}

TEST_F(Handler, BadSignatureIs401AndNothingIsPublished) {
  auto tampered = signed_request(fixture("slack/message.json"));
  tampered.body().replace(tampered.body().find("2h"), 2, "9h");
  auto response = handle(std::move(tampered));
  EXPECT_EQ(response.result(), bh::status::unauthorized);
  EXPECT_TRUE(is_small_json_error(response, "invalid_signature"));
  EXPECT_EQ(nlohmann::json::parse(response.body())["detail"], "mismatch");

  auto stale = signed_request(fixture("slack/message.json"), "application/json", kNow - 301);
  EXPECT_EQ(handle(std::move(stale)).result(), bh::status::unauthorized);
  auto unsigned_request = signed_request(fixture("slack/message.json"));
  unsigned_request.erase("X-Slack-Signature");
  EXPECT_EQ(handle(std::move(unsigned_request)).result(), bh::status::unauthorized);
  EXPECT_TRUE(publisher.published.empty());
  EXPECT_NE(
      metrics().find(R"(tracker_ingest_signature_failures_total{reason="stale_timestamp"} 1)"),
      std::string::npos);
}

TEST_F(Handler, UrlVerificationEchoesTheChallenge) {
  auto response = handle(signed_request(fixture("slack/url_verification.json")));
  EXPECT_EQ(response.result(), bh::status::ok);
  EXPECT_EQ(nlohmann::json::parse(response.body())["challenge"],
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
  EXPECT_TRUE(publisher.published.empty());
}

TEST_F(Handler, SslCheckIsAnEmpty200) {
  auto response =
      handle(signed_request("ssl_check=1&token=abc", "application/x-www-form-urlencoded"));
  EXPECT_EQ(response.result(), bh::status::ok);
  EXPECT_TRUE(response.body().empty());
}

TEST_F(Handler, AppRateLimitedIs200AndCounted) {
  EXPECT_EQ(handle(signed_request(fixture("slack/app_rate_limited.json"))).result(),
            bh::status::ok);
  EXPECT_NE(metrics().find("tracker_ingest_app_rate_limited_total 1"), std::string::npos);
  EXPECT_TRUE(publisher.published.empty());
}

TEST_F(Handler, SignedButMalformedIs400WithNoRetry) {
  for (const char* body : {"{broken", R"({"type":"interactive_message"})"}) {
    auto response = handle(signed_request(body));
    EXPECT_EQ(response.result(), bh::status::bad_request) << body;
    EXPECT_EQ(response["x-slack-no-retry"], "1") << body;
    EXPECT_TRUE(is_small_json_error(response, "bad_request")) << response.body();
  }
  auto bad_retry = signed_request(fixture("slack/message.json"));
  bad_retry.set("X-Slack-Retry-Num", "one");
  EXPECT_EQ(handle(std::move(bad_retry)).result(), bh::status::bad_request);
  EXPECT_TRUE(publisher.published.empty());
}

TEST_F(Handler, RoutingAndContentTypeErrors) {
  auto wrong_path = signed_request(fixture("slack/message.json"));
  wrong_path.target("/slack/event");
  auto not_found = handle(std::move(wrong_path));
  EXPECT_EQ(not_found.result(), bh::status::not_found);
  EXPECT_TRUE(is_small_json_error(not_found, "not_found"));

  auto get = signed_request(fixture("slack/message.json"));
  get.method(bh::verb::get);
  auto not_allowed = handle(std::move(get));
  EXPECT_EQ(not_allowed.result(), bh::status::method_not_allowed);
  EXPECT_EQ(not_allowed[bh::field::allow], "POST");

  auto unsupported = handle(signed_request(fixture("slack/message.json"), "text/plain"));
  EXPECT_EQ(unsupported.result(), bh::status::unsupported_media_type);
  EXPECT_TRUE(is_small_json_error(unsupported, "unsupported_media_type"));

  EXPECT_EQ(handle(signed_request(fixture("slack/message.json"), "Application/JSON; charset=utf-8"))
                .result(),
            bh::status::ok);
  auto with_query = signed_request(fixture("slack/message.json"));
  with_query.target("/slack/events?source=test");
  EXPECT_EQ(handle(std::move(with_query)).result(), bh::status::ok);
  EXPECT_EQ(publisher.published.size(), 2U);
}

TEST(RouteLabel, IsBounded) {
  EXPECT_EQ(tracker::ingest::IngestHandler::route_label("/slack/events?x=1"), "/slack/events");
  EXPECT_EQ(tracker::ingest::IngestHandler::route_label("/wp-admin/../../etc"), "other");
}

// The body limit and the record limit are one: a body ingest accepts always fits in a record.
// An event loop per core the process may use: its CPUs, fewer under a container's CPU limit.
TEST(IngestSettings, IoThreadsDefaultToTheCoresTheProcessMayUse) {
  EXPECT_EQ(tracker::ingest::cores_allowed(8, "max 100000\n"), 8);
  EXPECT_EQ(tracker::ingest::cores_allowed(8, "200000 100000\n"), 2);
  EXPECT_EQ(tracker::ingest::cores_allowed(8, "150000 100000"), 2) << "a part of a core counts";
  EXPECT_EQ(tracker::ingest::cores_allowed(8, "25000 100000"), 1);
  EXPECT_EQ(tracker::ingest::cores_allowed(2, "800000 100000"), 2) << "never more than the CPUs";
  EXPECT_EQ(tracker::ingest::cores_allowed(4, ""), 4) << "no cgroup v2 file";
  EXPECT_EQ(tracker::ingest::cores_allowed(4, "garbage"), 4);
  EXPECT_EQ(tracker::ingest::cores_allowed(0, ""), 1);
  EXPECT_EQ(tracker::ingest::cores_allowed(256, "max 100000"), 64);
  const std::map<std::string, std::string> minimal = {{"SLACK_SIGNING_SECRET", kSecret},
                                                      {"KAFKA_BROKERS", "127.0.0.1:9092"}};
  tracker::config::Env env(tracker::config::fixed_environment(minimal));
  const auto settings = tracker::ingest::load_settings(env);
  EXPECT_EQ(settings.common.io_threads, tracker::ingest::default_io_threads());
  EXPECT_GE(settings.common.io_threads, 1);
}

TEST(IngestSettings, BodyLimitMustLeaveRoomForTheEnvelopeInARecord) {
  const std::map<std::string, std::string> minimal = {{"SLACK_SIGNING_SECRET", kSecret},
                                                      {"KAFKA_BROKERS", "127.0.0.1:9092"}};
  {
    tracker::config::Env env(tracker::config::fixed_environment(minimal));
    const auto settings = tracker::ingest::load_settings(env);
    EXPECT_EQ(settings.max_body_bytes, 1024U * 1024U);
    EXPECT_LE(settings.max_body_bytes, tracker::kafka::kMaxEventBodyBytes);
    EXPECT_EQ(settings.common.ops_address, "127.0.0.1") << "probes listen on loopback unless told";
    EXPECT_EQ(settings.address, "0.0.0.0");
  }
  auto values = minimal;
  values["TRACKER_MAX_BODY_BYTES"] = "2000000";
  tracker::config::Env env(tracker::config::fixed_environment(values));
  try {
    static_cast<void>(tracker::ingest::load_settings(env));
    FAIL() << "a body limit above the record limit must not start";
  } catch (const tracker::config::ConfigError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("TRACKER_MAX_BODY_BYTES"), std::string::npos) << what;
    EXPECT_NE(what.find("2000000"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(tracker::kafka::kMaxRecordBytes)), std::string::npos)
        << what;
  }
}

// ---- /slack/commands

namespace {

Request signed_command(const std::string& text, std::string path = "/slack/commands") {
  const std::string body =
      tracker::http::form_body({{"token", "x"},
                                {"team_id", "T1"},
                                {"team_domain", "study"},
                                {"channel_id", "C1"},
                                {"user_id", "U1"},
                                {"user_name", "mina"},
                                {"command", "/study"},
                                {"text", text},
                                {"response_url", "https://hooks.slack.com/commands/T1/1/abc"},
                                {"trigger_id", "1.2.3"}});
  Request request = Handler::signed_request(body, "application/x-www-form-urlencoded");
  request.target(path);
  return request;
}

nlohmann::json ephemeral_of(const Response& response) {
  EXPECT_EQ(response.result(), bh::status::ok) << response.body();
  const auto body = nlohmann::json::parse(response.body(), nullptr, false);
  EXPECT_EQ(body.value("response_type", ""), "ephemeral") << response.body();
  return body;
}

}  // namespace

TEST_F(Handler, ACommandIsPublishedAndAcknowledgedAtOnce) {
  const auto body = ephemeral_of(handle(signed_command("week")));
  EXPECT_EQ(body.value("text", ""), "Working on it…");
  ASSERT_EQ(publisher.published.size(), 1U);
  const auto& message = publisher.published[0];
  EXPECT_EQ(message.topic, "slack-commands");
  EXPECT_EQ(message.key, "T1:U1");
  const auto record = tracker::messages::decode_command(message.value);
  ASSERT_TRUE(record) << message.value;
  EXPECT_EQ(record->text, "week");
  EXPECT_EQ(record->response_url, "https://hooks.slack.com/commands/T1/1/abc");
  EXPECT_EQ(record->channel_id, "C1");
  // In Korean, the acknowledgement is Korean.
  EXPECT_EQ(ephemeral_of(handle(signed_command("주간"))).value("text", ""), "확인하고 있습니다…");
}

TEST_F(Handler, HelpAndMistakesAreAnsweredWithoutPublishing) {
  EXPECT_NE(ephemeral_of(handle(signed_command(""))).value("text", "").find("/study week"),
            std::string::npos);
  EXPECT_NE(ephemeral_of(handle(signed_command("도움말"))).value("text", "").find("/study 주간"),
            std::string::npos);
  EXPECT_NE(ephemeral_of(handle(signed_command("settings hour 25"))).value("text", "").find("“25”"),
            std::string::npos);
  EXPECT_NE(
      ephemeral_of(handle(signed_command("dance"))).value("text", "").find("Unknown subcommand"),
      std::string::npos);
  EXPECT_TRUE(publisher.published.empty());
  EXPECT_NE(metrics().find(R"(tracker_ingest_commands_total{outcome="refused"} 2)"),
            std::string::npos)
      << metrics();
}

TEST_F(Handler, ACommandThatCannotBePublishedIsToldToTryAgain) {
  publisher.outcome = PublishOutcome::broker_down;
  EXPECT_NE(ephemeral_of(handle(signed_command("today"))).value("text", "").find("try again"),
            std::string::npos);
}

TEST_F(Handler, CommandsAreSignedAndFormEncodedLikeEvents) {
  auto unsigned_request = signed_command("week");
  unsigned_request.set("X-Slack-Signature", "v0=" + std::string(64, '0'));
  EXPECT_EQ(handle(std::move(unsigned_request)).result(), bh::status::unauthorized);
  auto json_request = signed_request(R"({"command":"/study"})");
  json_request.target("/slack/commands");
  EXPECT_EQ(handle(std::move(json_request)).result(), bh::status::unsupported_media_type);
  Request missing =
      signed_request("team_id=T1&command=%2Fstudy&text=week", "application/x-www-form-urlencoded");
  missing.target("/slack/commands");
  const auto refused = handle(std::move(missing));
  EXPECT_EQ(refused.result(), bh::status::bad_request);
  EXPECT_NE(refused.body().find("slash command without user_id"), std::string::npos)
      << refused.body();
  EXPECT_TRUE(publisher.published.empty());
}

// ---- /slack/interactivity: the App Home's buttons

namespace {

// A block_actions payload as Slack sends it for a button of a home view.
Request signed_press(const std::string& action_id, const std::string& type = "block_actions") {
  const nlohmann::json payload = {
      {"type", type},
      {"team", {{"id", "T1"}, {"domain", "study"}}},
      {"user", {{"id", "U1"}, {"username", "mina"}, {"team_id", "T1"}}},
      {"api_app_id", "A1"},
      {"container", {{"type", "view"}, {"view_id", "V1"}}},
      {"trigger_id", "1.2.3"},
      {"view", {{"id", "V1"}, {"type", "home"}}},
      {"actions",
       {{{"action_id", action_id}, {"block_id", "b1"}, {"type", "button"}, {"action_ts", "1.2"}}}}};
  Request request = Handler::signed_request(tracker::http::form_body({{"payload", payload.dump()}}),
                                            "application/x-www-form-urlencoded");
  request.target("/slack/interactivity");
  return request;
}

}  // namespace

TEST_F(Handler, AnAppHomeButtonIsPublishedAsTheCommandItStandsFor) {
  const auto answer = handle(signed_press("study_pause"));
  EXPECT_EQ(answer.result(), bh::status::ok) << answer.body();
  EXPECT_TRUE(answer.body().empty());
  ASSERT_EQ(publisher.published.size(), 1U);
  EXPECT_EQ(publisher.published[0].topic, "slack-commands");
  EXPECT_EQ(publisher.published[0].key, "T1:U1");
  const auto record = tracker::messages::decode_command(publisher.published[0].value);
  ASSERT_TRUE(record) << publisher.published[0].value;
  EXPECT_EQ(record->text, "pause");
  EXPECT_EQ(record->origin, "app_home");
  EXPECT_TRUE(record->response_url.empty());
  ASSERT_EQ(handle(signed_press("study_resume")).result(), bh::status::ok);
  EXPECT_EQ(tracker::messages::decode_command(publisher.published[1].value)->text, "resume");
}

TEST_F(Handler, AnInteractionTheAppNeverOffersIsRefusedByName) {
  const auto unknown = handle(signed_press("study_dance"));
  EXPECT_EQ(unknown.result(), bh::status::bad_request);
  EXPECT_NE(unknown.body().find("unknown action_id \\\"study_dance\\\""), std::string::npos)
      << unknown.body();
  const auto submission = handle(signed_press("study_pause", "view_submission"));
  EXPECT_EQ(submission.result(), bh::status::bad_request);
  EXPECT_NE(submission.body().find("view_submission"), std::string::npos) << submission.body();
  auto forged = signed_press("study_pause");
  forged.set("X-Slack-Signature", "v0=" + std::string(64, '0'));
  EXPECT_EQ(handle(std::move(forged)).result(), bh::status::unauthorized);
  Request no_payload = signed_request("team_id=T1", "application/x-www-form-urlencoded");
  no_payload.target("/slack/interactivity");
  const auto empty = handle(std::move(no_payload));
  EXPECT_EQ(empty.result(), bh::status::bad_request);
  EXPECT_NE(empty.body().find("interaction without payload"), std::string::npos) << empty.body();
  EXPECT_TRUE(publisher.published.empty());
  EXPECT_NE(metrics().find(R"(tracker_ingest_interactions_total{outcome="refused"} 3)"),
            std::string::npos)
      << metrics();
}

TEST_F(Handler, AButtonPressTheBrokerDidNotTakeIsNotAcknowledged) {
  publisher.outcome = PublishOutcome::broker_down;
  const auto answer = handle(signed_press("study_resume"));
  EXPECT_EQ(answer.result(), bh::status::service_unavailable);
  EXPECT_NE(answer.body().find("press again"), std::string::npos) << answer.body();
}
