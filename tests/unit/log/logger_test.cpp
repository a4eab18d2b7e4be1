#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <tracker/log/logger.hpp>
#include <tracker/log/redaction.hpp>
#include <tracker/log/timestamp.hpp>

using tracker::log::Level;
using tracker::log::Logger;

namespace {

struct Captured {
  std::vector<std::string> lines;
  Logger logger;
  explicit Captured(Level level = Level::debug)
      : logger({.service = "test",
                .min_level = level,
                .sink = [this](std::string_view line) { lines.emplace_back(line); },
                .clock =
                    [] {
                      return std::chrono::system_clock::time_point{
                          std::chrono::milliseconds{1731974400123}};
                    }}) {}
  nlohmann::json last() const { return nlohmann::json::parse(lines.back()); }
};

}  // namespace

TEST(Logger, WritesOneJsonObjectPerLineWithTheStandardFieldsFirst) {
  Captured c;
  c.logger.info("event_published", {{"topic", "slack-events"}, {"partition", 3}});
  ASSERT_EQ(c.lines.size(), 1U);
  EXPECT_EQ(c.lines[0].back(), '\n');
  EXPECT_EQ(c.lines[0].find('\n'), c.lines[0].size() - 1);
  EXPECT_EQ(
      c.lines[0].rfind(
          R"({"ts":"2024-11-19T00:00:00.123Z","level":"info","service":"test","event":"event_published")",
          0),
      0U)
      << c.lines[0];
  EXPECT_EQ(c.last()["partition"], 3);
}

TEST(Logger, DropsLinesBelowItsLevel) {
  Captured c(Level::warn);
  c.logger.info("ignored");
  c.logger.debug("ignored");
  c.logger.warn("kept");
  ASSERT_EQ(c.lines.size(), 1U);
  EXPECT_EQ(c.last()["event"], "kept");
}

TEST(Logger, FieldsCannotOverwriteStandardFields) {
  Captured c;
  c.logger.info("real", {{"event", "fake"}, {"level", "debug"}});
  EXPECT_EQ(c.last()["event"], "real");
  EXPECT_EQ(c.last()["level"], "info");
}

TEST(Logger, RedactsValuesUnderSecretKeysAtAnyDepth) {
  Captured c;
  c.logger.info(
      "request",
      {{"headers", {{"Authorization", "Bearer xoxb-123"}, {"X-Slack-Signature", "v0=abc"}}},
       {"bot_token", "xoxb-456"},
       {"OPENAI_API_KEY", "sk-789"},
       {"user", "U1"}});
  const std::string& line = c.lines.back();
  for (const char* secret : {"xoxb-123", "v0=abc", "xoxb-456", "sk-789"}) {
    EXPECT_EQ(line.find(secret), std::string::npos) << secret;
  }
  EXPECT_EQ(c.last()["user"], "U1");
  EXPECT_EQ(c.last()["headers"]["Authorization"], "[redacted]");
}

TEST(Logger, ScrubsRegisteredSecretsInsideAnyString) {
  Captured c;
  c.logger.redact("8f742231b10e8888abcd99yyyzzz85a5");
  c.logger.redact("abc");  // too short to scrub safely: ignored
  c.logger.error("config", {{"detail", "secret 8f742231b10e8888abcd99yyyzzz85a5 rejected"},
                            {"list", {"x 8f742231b10e8888abcd99yyyzzz85a5"}},
                            {"note", "abc"}});
  EXPECT_EQ(c.lines.back().find("8f742231b10e8888abcd99yyyzzz85a5"), std::string::npos);
  EXPECT_EQ(c.last()["detail"], "secret [redacted] rejected");
  EXPECT_EQ(c.last()["note"], "abc");
}

TEST(Logger, SecretStraddlingTheTextCutIsStillRedacted) {
  Captured c;
  c.logger.redact("xoxb-0123456789-abcdef");
  c.logger.info("message", {{"text", "my token is xoxb-0123456789-abcdef ok"}});
  EXPECT_EQ(c.lines.back().find("xoxb-0123"), std::string::npos) << c.lines.back();
}

TEST(Logger, KeepsOnlyAShortPrefixOfMessageText) {
  Captured c;
  c.logger.info("message",
                {{"text", "Studied Kafka consumer groups for 2h and then some more details"}});
  const std::string text = c.last()["text"];
  EXPECT_EQ(text.rfind("Studied Kafka consumer g…", 0), 0U);
  EXPECT_EQ(text.find("details"), std::string::npos);
  EXPECT_NE(text.find("(63 bytes)"), std::string::npos);
}

TEST(Logger, InvalidUtf8DoesNotThrow) {
  Captured c;
  EXPECT_NO_THROW(c.logger.warn("bad_input", {{"detail", std::string("\xff\xfe ok")}}));
  EXPECT_NO_THROW(static_cast<void>(c.last()));
}

TEST(Redaction, TextPrefixDoesNotSplitUtf8) {
  const std::string text = "공부 기록: 카프카 컨슈머 그룹을 두 시간 공부했다";
  const std::string prefix = tracker::log::text_prefix(text);
  EXPECT_NO_THROW(static_cast<void>(nlohmann::json(prefix).dump()));
  EXPECT_LT(prefix.size(), text.size() + 20);
}

TEST(Redaction, ConnectionStringPasswordsAreRemoved) {
  using tracker::log::redact_connection_string;
  EXPECT_EQ(redact_connection_string("postgresql://tracker:s3cret@127.0.0.1:15432/tracker"),
            "postgresql://tracker:[redacted]@127.0.0.1:15432/tracker");
  EXPECT_EQ(redact_connection_string("host=db user=app password=s3cret dbname=x"),
            "host=db user=app password=[redacted] dbname=x");
  EXPECT_EQ(redact_connection_string("postgresql://db/x?user=a&password=s3cret&sslmode=require"),
            "postgresql://db/x?user=a&password=[redacted]&sslmode=require");
  EXPECT_EQ(redact_connection_string("postgresql://db/x"), "postgresql://db/x");
}

TEST(Level, ParsesKnownNames) {
  EXPECT_EQ(tracker::log::parse_level("warning"), Level::warn);
  EXPECT_EQ(tracker::log::parse_level("debug"), Level::debug);
  EXPECT_FALSE(tracker::log::parse_level("verbose").has_value());
}

// Found by fuzz/worker_event: a record whose received_at was "9436-11-19T00:00:01.250Z"
// overflowed system_clock's 64-bit nanoseconds (undefined behaviour) instead of being refused.
TEST(Timestamp, RefusesTimesSystemClockCannotHold) {
  using tracker::log::parse_iso8601_utc;
  for (const char* text :
       {"9436-11-19T00:00:01.250Z", "2262-04-12T00:00:00Z", "1677-09-20T00:00:00Z",
        "0000-01-01T00:00:00Z", "-999-01-01T00:00:00Z", "+202-01-01T00:00:00Z"}) {
    EXPECT_FALSE(parse_iso8601_utc(text).has_value()) << text;
  }
  const auto latest = parse_iso8601_utc("2261-12-31T23:59:59.999Z");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(tracker::log::iso8601_utc(*latest), "2261-12-31T23:59:59.999Z");
  const auto earliest = parse_iso8601_utc("1678-01-01T00:00:00Z");
  ASSERT_TRUE(earliest.has_value());
  EXPECT_EQ(tracker::log::iso8601_utc(*earliest), "1678-01-01T00:00:00.000Z");
}
