#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tracker::log {

inline constexpr std::string_view kRedacted = "[redacted]";
inline constexpr std::size_t kTextPrefix = 24;

// True for keys whose values are credentials: token, secret, password, authorization,
// signature, api_key, cookie, in any case and as part of a longer name ("bot_token").
bool is_secret_key(std::string_view key);

// Keeps the first kTextPrefix characters (on a UTF-8 boundary) and notes the full length.
std::string text_prefix(std::string_view text);

// Replaces secrets inside `value` in place: secret keys, registered values, long "text" fields.
void scrub(nlohmann::json& value, const std::vector<std::string>& secrets);

// Replaces the password in a libpq URL or key=value connection string with [redacted].
std::string redact_connection_string(std::string_view conninfo);

}  // namespace tracker::log
