// The slack-commands record: what ingest writes is what the app reads, in both origins, and the
// schema file describes it.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include <tracker/messages/command.hpp>

namespace {

using tracker::messages::CommandRecord;
using tracker::messages::decode_command;
using tracker::messages::encode_command;

CommandRecord typed() {
  return {
      .team_id = "T1",
      .user_id = "U1",
      .channel_id = "C1",
      .command = "/study",
      .text = "settings tz Asia/Seoul",
      .response_url = "https://hooks.slack.com/commands/T1/1/x",
      .received_at = std::chrono::system_clock::time_point{std::chrono::seconds{1'765'000'000}}};
}

}  // namespace

TEST(Command, RoundTripsBothOrigins) {
  const auto decoded = decode_command(encode_command(typed()));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_EQ(decoded->text, "settings tz Asia/Seoul");
  EXPECT_EQ(decoded->response_url, "https://hooks.slack.com/commands/T1/1/x");
  EXPECT_EQ(decoded->origin, tracker::messages::kOriginSlashCommand);
  EXPECT_EQ(decoded->received_at, typed().received_at);

  CommandRecord button = typed();
  button.text = "pause";
  button.response_url.clear();
  button.origin = std::string(tracker::messages::kOriginAppHome);
  const auto encoded = nlohmann::json::parse(encode_command(button));
  EXPECT_FALSE(encoded.contains("response_url"));
  const auto from_home = decode_command(encode_command(button));
  ASSERT_TRUE(from_home.has_value()) << from_home.error().detail;
  EXPECT_EQ(from_home->origin, "app_home");
  EXPECT_TRUE(from_home->response_url.empty());
}

TEST(Command, RefusesWhatTheAppCannotRun) {
  // A record written before origin existed is a typed command.
  const auto old = decode_command(
      R"({"schema":"slack-command/v1","team_id":"T1","user_id":"U1","command":"/study",)"
      R"("text":"week","response_url":"https://hooks.slack.com/x"})");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->origin, "slash_command");

  const struct {
    const char* value;
    const char* reason;
    const char* detail;
  } cases[] = {
      {"[1]", "invalid_json", ""},
      {R"({"schema":"slack-command/v2"})", "unknown_schema", ""},
      {R"({"schema":"slack-command/v1","team_id":"T1","user_id":"U1","command":"/study"})",
       "missing_field", "command.response_url"},
      {R"({"schema":"slack-command/v1","team_id":"T1","user_id":"U1","command":"/study",)"
       R"("origin":"shortcut","response_url":"https://hooks.slack.com/x"})",
       "invalid_field", "command.origin"},
      {R"({"schema":"slack-command/v1","team_id":"","user_id":"U1","command":"/study",)"
       R"("origin":"app_home"})",
       "invalid_field", "command.team_id"},
  };
  for (const auto& c : cases) {
    const auto decoded = decode_command(c.value);
    ASSERT_FALSE(decoded.has_value()) << c.value;
    EXPECT_EQ(decoded.error().reason, c.reason) << c.value;
    if (*c.detail != '\0') {
      EXPECT_EQ(decoded.error().detail, c.detail) << c.value;
    }
  }
}

TEST(Command, MatchesItsJsonSchemaFile) {
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) +
                   "/schemas/messages/slack-command.v1.schema.json");
  ASSERT_TRUE(in);
  const auto schema = nlohmann::json::parse(in);
  for (const auto& record : {typed(), [] {
                               auto button = typed();
                               button.response_url.clear();
                               button.origin = "app_home";
                               return button;
                             }()}) {
    const auto encoded = nlohmann::json::parse(encode_command(record));
    for (const auto& [key, value] : encoded.items()) {
      EXPECT_TRUE(schema["properties"].contains(key)) << key;
    }
    for (const auto& key : schema["required"]) EXPECT_TRUE(encoded.contains(key)) << key;
    if (record.origin == "slash_command") {
      for (const auto& key : schema["else"]["required"]) EXPECT_TRUE(encoded.contains(key)) << key;
    }
  }
  EXPECT_EQ(schema["properties"]["origin"]["enum"],
            nlohmann::json::array({"slash_command", "app_home"}));
}
