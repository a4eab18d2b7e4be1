// OpenAI's rate-limit headers and their Go-style durations.
#include <gtest/gtest.h>

#include <tracker/llm/rate_headers.hpp>

using namespace std::chrono_literals;
using tracker::llm::parse_duration;

TEST(ParseDuration, ReadsOpenAiFormats) {
  EXPECT_EQ(parse_duration("1s"), 1000ms);
  EXPECT_EQ(parse_duration("6m0s"), 360'000ms);
  EXPECT_EQ(parse_duration("12ms"), 12ms);
  EXPECT_EQ(parse_duration("59.577s"), 59'577ms);
  EXPECT_EQ(parse_duration("1h2m3.5s"), 3'723'500ms);
  EXPECT_EQ(parse_duration("0s"), 0ms);
  EXPECT_EQ(parse_duration("20"), 20'000ms);  // a bare number: seconds
  EXPECT_EQ(parse_duration("250us"), 1ms);    // rounded up, never to zero
}

TEST(ParseDuration, RejectsWhatIsNotADuration) {
  for (const char* text : {"", "s", "-1s", "1x", "1.2.3s", "1s2", "abc", "1 s", "ms"}) {
    EXPECT_FALSE(parse_duration(text).has_value()) << text;
  }
}

TEST(RateLimitHeaders, ReadsEveryHeaderAndLeavesMissingOnesEmpty) {
  tracker::http::Response response;
  response.set("x-ratelimit-limit-requests", "3000");
  response.set("x-ratelimit-remaining-requests", "2999");
  response.set("x-ratelimit-reset-requests", "20ms");
  response.set("x-ratelimit-limit-tokens", "1000000");
  response.set("x-ratelimit-remaining-tokens", "bogus");
  const auto headers = tracker::llm::read_rate_limit_headers(response);
  EXPECT_EQ(headers.limit_requests, 3000);
  EXPECT_EQ(headers.remaining_requests, 2999);
  EXPECT_EQ(headers.reset_requests, 20ms);
  EXPECT_EQ(headers.limit_tokens, 1'000'000);
  EXPECT_FALSE(headers.remaining_tokens.has_value());
  EXPECT_FALSE(headers.reset_tokens.has_value());
  EXPECT_TRUE(headers.any());
}

TEST(RetryAfter, PrefersMillisecondsOverSeconds) {
  tracker::http::Response response;
  response.set("retry-after", "2");
  EXPECT_EQ(tracker::llm::read_retry_after(response), 2000ms);
  response.set("retry-after-ms", "350");
  EXPECT_EQ(tracker::llm::read_retry_after(response), 350ms);
  tracker::http::Response none;
  EXPECT_FALSE(tracker::llm::read_retry_after(none).has_value());
}

// Found by fuzz/llm_response: retry-after-ms of 1e300 was cast to an integer it does not fit
// (undefined behaviour); it is capped at a day, as retry-after is.
TEST(RetryAfter, HugeMillisecondsAreADay) {
  tracker::http::Response response;
  response.set("retry-after-ms", "1" + std::string(300, '0'));
  EXPECT_EQ(tracker::llm::read_retry_after(response), 86'400'000ms);
}
