#pragma once
// Installing the app into a workspace with Slack's OAuth v2 flow
// (https://api.slack.com/authentication/oauth-v2):
//   1. GET /slack/install answers 302 to Slack's authorize page with the bot scopes, the
//      redirect URL and a `state` this file signs (StateSigner::issue); the same nonce goes into
//      a cookie, so that the redirect is finished by the browser that started it;
//   2. the person allows the app; Slack sends the browser to the redirect URL with `code` and
//      `state`;
//   3. the state is checked (signature, expiry, nonce = cookie; then once only, in the
//      database), the code exchanged with oauth.v2.access (OAuthClient), and the bot token kept.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/http/client.hpp>

namespace tracker::slack {

// The bot scopes the app asks for, and why (deploy/slack/manifest.yaml lists the same):
//   channels:history, groups:history  message events in the public and private channels the
//                                     bot is in: the study logs
//   chat:write                        posting feedback and answers
//   commands                          the /study command
//   users:read                        users.info (a person's time zone) and user_change events
// app_home_opened, app_uninstalled and tokens_revoked need no scope.
inline constexpr std::string_view kBotScopes =
    "channels:history,groups:history,chat:write,commands,users:read";

struct IssuedState {
  std::string state;  // for the authorize URL
  std::string nonce;  // for the cookie, and for the single-use check
  std::chrono::system_clock::time_point expires;
};

struct StateFailure {
  // malformed: not a state this app issues; tampered: the signature does not match;
  // expired: older than its lifetime; other_browser: the cookie does not match (or is missing);
  // replayed: used once already (the database's check).
  enum class Kind { malformed, tampered, expired, other_browser, replayed } kind;
};

std::string_view to_string(StateFailure::Kind kind);

// Signs and checks OAuth states: base64url("1." + nonce + "." + expiry in Unix milliseconds) "."
// base64url(HMAC-SHA256), keyed with the app's derived keys (TokenCipher::derive("oauth-state"));
// the first key signs, any key checks, so a rotation does not break an install in progress.
class StateSigner {
 public:
  StateSigner(std::vector<config::Secret> keys, std::chrono::seconds lifetime);

  [[nodiscard]] IssuedState issue(std::chrono::system_clock::time_point now) const;
  // The nonce of a valid state. `cookie_nonce`: what the browser's cookie holds.
  [[nodiscard]] boost::system::result<std::string, StateFailure> check(
      std::string_view state, std::string_view cookie_nonce,
      std::chrono::system_clock::time_point now) const;

  [[nodiscard]] std::chrono::seconds lifetime() const noexcept { return lifetime_; }

 private:
  std::vector<config::Secret> keys_;
  std::chrono::seconds lifetime_;
};

// https://slack.com/oauth/v2/authorize?client_id=...&scope=...&redirect_uri=...&state=...
std::string authorize_url(std::string_view authorize_base, std::string_view client_id,
                          std::string_view scopes, std::string_view redirect_uri,
                          std::string_view state);

// What oauth.v2.access answers for a bot install.
struct Installation {
  std::string team_id;
  std::string team_name;
  std::string enterprise_id;  // empty outside Enterprise Grid
  std::string app_id;
  std::string bot_user_id;
  std::string scope;
  std::string installer_user_id;  // authed_user.id
  config::Secret bot_token;       // xoxb-...
};

struct OAuthFailure {
  // Slack's error code (invalid_code, code_already_used, bad_client_secret, bad_redirect_uri,
  // ...), else "http_<status>", "invalid_response", "not_a_bot_token", or the transport
  // failure's kind.
  std::string error;
  std::string detail;
  bool retryable = false;  // Slack's side or the network: the same code may still work
};

[[noreturn]] void throw_exception_from_error(const OAuthFailure& failure,
                                             const boost::source_location& location);

// Reads an HTTP answer of oauth.v2.access.
boost::system::result<Installation, OAuthFailure> interpret_oauth_access(unsigned http_status,
                                                                         std::string_view body);

// The form body of an oauth.v2.access request.
std::string oauth_access_body(std::string_view client_id, std::string_view client_secret,
                              std::string_view code, std::string_view redirect_uri);

// oauth.v2.access through `client`, whose base URL is the API root (https://slack.com/api).
class OAuthClient {
 public:
  OAuthClient(http::Client& client, std::string client_id, config::Secret client_secret)
      : client_(client),
        client_id_(std::move(client_id)),
        client_secret_(std::move(client_secret)) {}

  boost::asio::awaitable<boost::system::result<Installation, OAuthFailure>> exchange(
      std::string code, std::string redirect_uri);

 private:
  http::Client& client_;
  std::string client_id_;
  config::Secret client_secret_;
};

}  // namespace tracker::slack
