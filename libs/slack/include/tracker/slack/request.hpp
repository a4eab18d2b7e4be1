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

// The App Home's buttons: their action_id, and the /study text each one stands for.
inline constexpr std::string_view kPauseAction = "study_pause";
inline constexpr std::string_view kResumeAction = "study_resume";

// A button pressed in a view the app published
// (https://api.slack.com/reference/interaction-payloads/block-actions): form-encoded, its JSON in
// the `payload` field.
struct BlockAction {
  std::string team_id;
  std::string user_id;
  std::string action_id;  // kPauseAction or kResumeAction
  std::string text;       // the /study text it stands for: "pause", "resume"
};

// Reads an interaction's body; Malformed names what is broken, or why the tracker has nothing to
// do with it (another payload type, a button it never published).
std::variant<BlockAction, Malformed> read_block_action(std::string_view body);

}  // namespace tracker::slack
