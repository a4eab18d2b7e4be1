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

}  // namespace tracker::slack
