#pragma once
// What a signed request to the Events API endpoint asks for. Slack sends JSON, except the
// ssl_check probe, which is form-encoded.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace tracker::slack {

struct UrlVerification {
  std::string challenge;
};

struct SslCheck {};

// Slack is dropping events for this app because it answered too slowly or too rarely.
struct AppRateLimited {
  std::string team_id;
  std::int64_t minute_rate_limited = 0;
};

struct EventCallback {
  std::string event_id;
  std::string team_id;
  std::string user_id;     // the acting user; empty for events without one
  std::string event_type;  // event.type
};

// Signed, so really from Slack, but not something this endpoint can use; `reason` says why.
struct Malformed {
  std::string reason;
};

using SlackRequest =
    std::variant<UrlVerification, SslCheck, AppRateLimited, EventCallback, Malformed>;

enum class BodyFormat { json, form };

SlackRequest classify(std::string_view body, BodyFormat format);

// A slash command (https://api.slack.com/interactivity/slash-commands), form-encoded.
struct SlashCommand {
  std::string team_id;
  std::string user_id;
  std::string channel_id;
  std::string command;  // "/study"
  std::string text;
  std::string response_url;
};

// Reads a slash command's body; Malformed names what is missing or broken.
std::variant<SlashCommand, Malformed> read_slash_command(std::string_view body);

}  // namespace tracker::slack
