#pragma once
// Records of the slack-commands topic (schemas/messages/slack-command.v1.schema.json): one /study
// slash command as ingest received it, keyed team_id:user_id so that one person's commands run in
// order. Ingest encodes them; the app decodes and runs them and answers through response_url.
#include <chrono>
#include <string>
#include <string_view>

#include <tracker/messages/decode_error.hpp>

namespace tracker::messages {

inline constexpr std::string_view kCommandSchema = "slack-command/v1";
// Where a command came from: typed (/study, answered at its response_url), or a button of the
// App Home (no response_url: the app publishes the home again).
inline constexpr std::string_view kOriginSlashCommand = "slash_command";
inline constexpr std::string_view kOriginAppHome = "app_home";

struct CommandRecord {
  std::string team_id;
  std::string user_id;
  std::string channel_id;    // may be empty
  std::string command;       // "/study"
  std::string text;          // what followed the command
  std::string response_url;  // empty for origin app_home
  std::chrono::system_clock::time_point received_at;
  std::string origin = std::string(kOriginSlashCommand);
};

std::string encode_command(const CommandRecord& record);
std::string command_key(const CommandRecord& record);
// Errors: invalid_json, unknown_schema, missing_field, invalid_field.
DecodeResult<CommandRecord> decode_command(std::string_view value);

}  // namespace tracker::messages
