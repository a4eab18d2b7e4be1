// What an answer to POST /chat/completions means for the retry policy.
#include <gtest/gtest.h>

#include <tracker/llm/chat.hpp>

using namespace std::chrono_literals;
using tracker::llm::Outcome;
namespace bh = tracker::http::beast_http;

namespace {

tracker::http::Response answer(unsigned status, std::string body) {
  tracker::http::Response response;
  response.result(status);
  response.body() = std::move(body);
  return response;
}

std::string error_body(const char* type, const char* code) {
  return std::string(R"({"error":{"message":"m","type":")") + type + R"(","param":null,"code":)" +
         (code ? std::string("\"") + code + "\"" : std::string("null")) + "}}";
}

}  // namespace

TEST(ChatRequest, SerialisesTheApiFields) {
  tracker::llm::ChatRequest request{.model = "gpt-4o-mini",
                                    .messages = {{"system", "rules"}, {"user", "data"}},
                                    .max_completion_tokens = 300,
                                    .user = "T1:U1"};
  const auto body = request.to_json();
  EXPECT_EQ(body["model"], "gpt-4o-mini");
  EXPECT_EQ(body["max_completion_tokens"], 300);
  EXPECT_EQ(body["messages"].size(), 2U);
  EXPECT_EQ(body["messages"][1]["role"], "user");
  EXPECT_EQ(body["user"], "T1:U1");
  EXPECT_FALSE(body.contains("temperature"));
}

TEST(ChatResponse, ReadsAChatCompletion) {
  auto response =
      answer(200, R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Well done"},"finish_reason":"stop"}],
    "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150}})");
  response.set("x-ratelimit-remaining-requests", "10");
  const auto result = tracker::llm::interpret_chat_response(response);
  EXPECT_EQ(result.outcome, Outcome::ok);
  EXPECT_EQ(result.content, "Well done");
  EXPECT_EQ(result.model, "gpt-4o-mini-2024");
  EXPECT_EQ(result.prompt_tokens, 120);
  EXPECT_EQ(result.completion_tokens, 30);
  EXPECT_EQ(result.limits.remaining_requests, 10);
}

TEST(ChatResponse, RateLimitIsRetriedAfterTheServersWait) {
  auto response = answer(429, error_body("requests", "rate_limit_exceeded"));
  response.set("retry-after-ms", "120");
  const auto result = tracker::llm::interpret_chat_response(response);
  EXPECT_EQ(result.outcome, Outcome::rate_limited);
  EXPECT_EQ(result.error_code, "rate_limit_exceeded");
  EXPECT_EQ(result.retry_after, 120ms);
}

TEST(ChatResponse, QuotaAndClientErrorsAreNotRetried) {
  EXPECT_EQ(tracker::llm::interpret_chat_response(
                answer(429, error_body("insufficient_quota", "insufficient_quota")))
                .outcome,
            Outcome::quota);
  for (unsigned status : {400U, 401U, 403U, 404U, 422U}) {
    EXPECT_EQ(tracker::llm::interpret_chat_response(
                  answer(status, error_body("invalid_request_error", nullptr)))
                  .outcome,
              Outcome::permanent)
        << status;
  }
}

TEST(ChatResponse, ServerErrorsTimeoutsAndConflictsAreRetried) {
  for (unsigned status : {408U, 409U, 500U, 502U, 503U, 504U}) {
    EXPECT_EQ(
        tracker::llm::interpret_chat_response(answer(status, error_body("server_error", nullptr)))
            .outcome,
        Outcome::retryable)
        << status;
  }
  // A proxy's HTML error page is not JSON: still a 502.
  EXPECT_EQ(tracker::llm::interpret_chat_response(answer(502, "<html>bad gateway</html>")).outcome,
            Outcome::retryable);
}

TEST(ChatResponse, AnUnreadable200IsRetriedAndAnEmptyOneIsNot) {
  EXPECT_EQ(tracker::llm::interpret_chat_response(answer(200, "not json")).outcome,
            Outcome::retryable);
  EXPECT_EQ(tracker::llm::interpret_chat_response(answer(200, R"({"choices":[]})")).outcome,
            Outcome::retryable);
  const auto refused = tracker::llm::interpret_chat_response(answer(
      200,
      R"({"choices":[{"message":{"role":"assistant","content":null,"refusal":"no"},"finish_reason":"content_filter"}]})"));
  EXPECT_EQ(refused.outcome, Outcome::permanent);
  EXPECT_NE(refused.message.find("content_filter"), std::string::npos);
}

// Found by fuzz/llm_response: usage counts were read with json::value<int>, which converts
// 1e300 to int (undefined behaviour) and throws for a string.
TEST(ChatResponse, UsageCountsOfAnotherTypeOrRangeAreZero) {
  const auto result = tracker::llm::interpret_chat_response(answer(
      200,
      R"({"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1e300,"completion_tokens":"7"}})"));
  EXPECT_EQ(result.outcome, Outcome::ok);
  EXPECT_EQ(result.prompt_tokens, 0);
  EXPECT_EQ(result.completion_tokens, 0);
}

// The 429 counter's label is one of OpenAI's rate-limit codes or "other": an error code is the
// server's text, and each distinct one would be a time series of its own.
TEST(RateLimitLabel, OpenAiCodesAreThemselvesAndAnythingElseIsOther) {
  using tracker::llm::rate_limit_label;
  EXPECT_EQ(rate_limit_label("rate_limit_exceeded"), "rate_limit_exceeded");
  EXPECT_EQ(rate_limit_label(""), "rate_limit_exceeded");
  EXPECT_EQ(rate_limit_label("insufficient_quota"), "insufficient_quota");
  EXPECT_EQ(rate_limit_label("tokens"), "tokens");
  EXPECT_EQ(rate_limit_label("requests"), "requests");
  EXPECT_EQ(rate_limit_label("slow_down_please"), "other");
  EXPECT_EQ(rate_limit_label(std::string(5000, 'x')), "other");
}
