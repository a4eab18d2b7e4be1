#pragma once
// The OAuth v2 install (slack/oauth.hpp has the flow):
//   GET /slack/install         302 to Slack's authorize page with a signed state that expires
//                              (TRACKER_OAUTH_STATE_TTL), and the state's nonce in a cookie
//                              scoped to the redirect path;
//   GET /slack/oauth_redirect  checks the state (signature, expiry, the cookie, then once only
//                              in the database), exchanges the code with oauth.v2.access, keeps
//                              the bot token sealed, and shows a page saying what happened.
// Every refusal is a page naming what was wrong, and stores nothing: a tampered, expired,
// foreign (another browser's) or replayed state is 400; a person who chose Cancel, 400; a code
// Slack refuses, 400; Slack or the database away, 503 (try again).
#include <chrono>
#include <functional>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>

#include <tracker/http/responses.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/slack/oauth.hpp>
#include <tracker/workspaces/workspace_store.hpp>

namespace tracker::app {

inline constexpr std::string_view kInstallPath = "/slack/install";
inline constexpr std::string_view kRedirectPath = "/slack/oauth_redirect";
inline constexpr std::string_view kStateCookie = "tracker_oauth_nonce";

struct InstallOptions {
  std::string client_id;
  std::string authorize_url;  // Slack's authorize page
  std::string redirect_uri;   // <public URL>/slack/oauth_redirect
  bool secure_cookie = true;  // the public URL is https
};

class InstallHandler {
 public:
  using WallClock = std::function<std::chrono::system_clock::time_point()>;

  InstallHandler(InstallOptions options, slack::StateSigner signer, slack::OAuthClient& oauth,
                 workspaces::Installations& installations, prometheus::Registry& registry,
                 log::Logger& logger, WallClock clock = {});

  // Any request to this port: the two paths above, else 404.
  boost::asio::awaitable<http::Response> handle(http::Request& request);
  static std::string route_label(std::string_view target);

 private:
  http::Response install(const http::Request& request);
  boost::asio::awaitable<http::Response> redirect(const http::Request& request);
  http::Response refused(const http::Request& request, http::beast_http::status status,
                         std::string_view outcome, std::string_view title, std::string_view detail);

  InstallOptions options_;
  slack::StateSigner signer_;
  slack::OAuthClient& oauth_;
  workspaces::Installations& installations_;
  log::Logger& logger_;
  WallClock clock_;
  prometheus::Family<prometheus::Counter>& outcomes_;
};

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view header, std::string_view name);
// Text made safe inside HTML.
std::string html_escape(std::string_view text);

}  // namespace tracker::app
