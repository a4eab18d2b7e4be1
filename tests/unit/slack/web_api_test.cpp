// What chat.postMessage's answers mean.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <tracker/slack/web_api.hpp>

using tracker::slack::classify_error;
using tracker::slack::interpret_post_failure;
using tracker::slack::interpret_post_response;
using tracker::slack::PostOutcome;

TEST(ClassifyError, SlackErrorsThatCannotSucceedAreNotRetried) {
  for (const char* code :
       {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
        "token_revoked", "token_expired", "account_inactive", "missing_scope", "msg_too_long",
        "msg_blocks_too_long", "no_text", "invalid_blocks", "some_new_error_code"}) {
    EXPECT_EQ(classify_error(code), PostOutcome::permanent) << code;
  }
  for (const char* code :
       {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}) {
    EXPECT_EQ(classify_error(code), PostOutcome::retryable) << code;
  }
  EXPECT_EQ(classify_error("ratelimited"), PostOutcome::rate_limited);
}

TEST(InterpretPostResponse, ReadsAPost) {
  const auto result = interpret_post_response(
      200, R"({"ok":true,"channel":"D0123","ts":"1733000000.000100","message":{"text":"hi"}})",
      std::nullopt);
  EXPECT_EQ(result.outcome, PostOutcome::posted);
  EXPECT_EQ(result.channel, "D0123");
  EXPECT_EQ(result.ts, "1733000000.000100");
  EXPECT_TRUE(result.error.empty());
}

TEST(InterpretPostResponse, TableOfAnswers) {
  struct Case {
    unsigned status;
    const char* body;
    std::optional<std::string_view> retry_after;
    PostOutcome outcome;
    const char* error;
    std::optional<long long> retry_after_ms;
  };
  const Case cases[] = {
      {429, R"({"ok":false,"error":"ratelimited"})", "30", PostOutcome::rate_limited, "ratelimited",
       30'000},
      {429, "", std::nullopt, PostOutcome::rate_limited, "ratelimited", std::nullopt},
      {429, "", "soon", PostOutcome::rate_limited, "ratelimited", std::nullopt},
      {500, R"({"ok":false,"error":"internal_error"})", std::nullopt, PostOutcome::retryable,
       "http_500", std::nullopt},
      {503, "<html>Service Unavailable</html>", "5", PostOutcome::retryable, "http_503", 5'000},
      {408, "", std::nullopt, PostOutcome::retryable, "http_408", std::nullopt},
      {200, R"({"ok":false,"error":"channel_not_found"})", std::nullopt, PostOutcome::permanent,
       "channel_not_found", std::nullopt},
      {200, R"({"ok":false,"error":"fatal_error"})", std::nullopt, PostOutcome::retryable,
       "fatal_error", std::nullopt},
      {200, R"({"ok":false})", std::nullopt, PostOutcome::permanent, "unknown_error", std::nullopt},
      {200, "<html>captive portal</html>", std::nullopt, PostOutcome::retryable, "invalid_response",
       std::nullopt},
      {404, "not found", std::nullopt, PostOutcome::permanent, "http_404", std::nullopt},
      {401, R"({"ok":false,"error":"invalid_auth"})", std::nullopt, PostOutcome::permanent,
       "invalid_auth", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto result = interpret_post_response(c.status, c.body, c.retry_after);
    EXPECT_EQ(result.outcome, c.outcome) << c.status << " " << c.body;
    EXPECT_EQ(result.error, c.error) << c.status << " " << c.body;
    EXPECT_EQ(result.http_status, c.status);
    if (c.retry_after_ms) {
      ASSERT_TRUE(result.retry_after.has_value()) << c.body;
      EXPECT_EQ(result.retry_after->count(), *c.retry_after_ms);
    } else {
      EXPECT_FALSE(result.retry_after.has_value()) << c.body;
    }
  }
}

TEST(InterpretPostFailure, NoAnswerIsRetriedAndMarkedInDoubtOnceSent) {
  using tracker::http::ClientError;
  const auto refused = interpret_post_failure({ClientError::connect_failed, {}});
  EXPECT_EQ(refused.outcome, PostOutcome::retryable);
  EXPECT_EQ(refused.error, "connect_failed");
  EXPECT_FALSE(refused.in_doubt);
  const auto timeout = interpret_post_failure({ClientError::timeout, {}});
  EXPECT_EQ(timeout.outcome, PostOutcome::retryable);
  EXPECT_TRUE(timeout.in_doubt);
}

TEST(PostMessageBody, CarriesTextThreadAndMetadata) {
  tracker::slack::PostMessage message{.channel = "C1", .text = "공부 요약", .thread_ts = "1.2"};
  message.metadata = nlohmann::json{{"event_type", "x"}, {"event_payload", {{"part", 1}}}};
  const auto body = nlohmann::json::parse(tracker::slack::post_message_body(message));
  EXPECT_EQ(body["channel"], "C1");
  EXPECT_EQ(body["text"], "공부 요약");
  EXPECT_EQ(body["thread_ts"], "1.2");
  EXPECT_EQ(body["metadata"]["event_payload"]["part"], 1);
  EXPECT_FALSE(body.contains("blocks"));
}

TEST(InterpretUsersInfo, ReadsTheZoneAndTheLocale) {
  const auto info = tracker::slack::interpret_users_info(
      200,
      R"({"ok":true,"user":{"id":"U1","tz":"Asia/Seoul","tz_offset":32400,"locale":"ko-KR",)"
      R"("is_bot":false,"deleted":false}})",
      std::nullopt);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->id, "U1");
  EXPECT_EQ(info->tz, "Asia/Seoul");
  EXPECT_EQ(info->locale, "ko-KR");
  EXPECT_FALSE(info->is_bot);

  // Without include_locale Slack gives no locale; a bot has no zone.
  const auto bot = tracker::slack::interpret_users_info(
      200, R"({"ok":true,"user":{"id":"B1","is_bot":true,"tz":null}})", std::nullopt);
  ASSERT_TRUE(bot.has_value());
  EXPECT_TRUE(bot->is_bot);
  EXPECT_TRUE(bot->tz.empty());
  EXPECT_TRUE(bot->locale.empty());
}

TEST(InterpretUsersInfo, FailuresSaySlacksReasonAndWhetherToAskAgain) {
  const auto missing = tracker::slack::interpret_users_info(
      200, R"({"ok":false,"error":"user_not_found"})", std::nullopt);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().error, "user_not_found");

  const auto limited = tracker::slack::interpret_users_info(429, "", std::string_view("7"));
  ASSERT_FALSE(limited.has_value());
  EXPECT_EQ(limited.error().error, "ratelimited");
  EXPECT_TRUE(limited.error().retryable);
  EXPECT_EQ(limited.error().retry_after, std::chrono::milliseconds{7'000});

  const auto no_user = tracker::slack::interpret_users_info(200, R"({"ok":true})", std::nullopt);
  ASSERT_FALSE(no_user.has_value());
  EXPECT_EQ(no_user.error().error, "invalid_response");
  EXPECT_FALSE(no_user.error().retryable);
}

// Found by fuzz/slack_web_api: json::value() threw type_error for an "error" that is not a
// string, or users.info fields of another type, out of functions whose failures are values.
TEST(InterpretUsersInfo, FieldsOfAnotherTypeAreAFailureOrLeftOutNotAnException) {
  const auto odd_error =
      tracker::slack::interpret_api(200, R"({"ok":false,"error":5})", std::nullopt);
  ASSERT_FALSE(odd_error.has_value());
  EXPECT_EQ(odd_error.error().error, "unknown_error");
  EXPECT_FALSE(odd_error.error().retryable);

  const auto odd_user = tracker::slack::interpret_users_info(
      200, R"({"ok":true,"user":{"id":5,"tz":1,"is_bot":"yes","deleted":null}})", std::nullopt);
  ASSERT_TRUE(odd_user.has_value());
  EXPECT_EQ(odd_user->id, "");
  EXPECT_EQ(odd_user->tz, "");
  EXPECT_FALSE(odd_user->is_bot);
  EXPECT_FALSE(odd_user->deleted);
}
