// The simulator's OAuth v2 install: the authorize page (as if its visitor chose Allow) and
// oauth.v2.access, with the errors Slack documents for it
// (https://api.slack.com/methods/oauth.v2.access#errors), and the workspace tokens they issue.
#include "slack_simulator.hpp"

#include <boost/beast/http/field.hpp>

#include <tracker/http/form.hpp>
#include <tracker/slack/token_cipher.hpp>

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using nlohmann::json;

namespace {

constexpr auto kCodeLifetime = std::chrono::minutes{10};

http::Response answer(json body, unsigned version) {
  return http::json_response(bh::status::ok, body.dump(), version);
}

http::Response oauth_error(const std::string& error, unsigned version) {
  return answer({{"ok", false}, {"error", error}}, version);
}

std::string field(const http::FormFields& fields, std::string_view name) {
  return http::form_value(fields, name).value_or("");
}

}  // namespace

http::Response SlackSimulator::authorize(std::string_view query, unsigned version) {
  const auto fields = http::parse_form(query);
  if (!fields) {
    return http::error_response(bh::status::bad_request, "invalid_query", "bad %-escape", version);
  }
  const std::string redirect_uri = field(*fields, "redirect_uri");
  if (field(*fields, "client_id") != options_.client_id) {
    return http::error_response(bh::status::bad_request, "invalid_client_id", "unknown client_id",
                                version);
  }
  if (redirect_uri.empty()) {
    return http::error_response(bh::status::bad_request, "bad_redirect_uri",
                                "redirect_uri is required", version);
  }
  http::FormFields back;
  if (field(*fields, "deny") == "1") {
    back = {{"error", "access_denied"}, {"state", field(*fields, "state")}};
  } else {
    const std::string code =
        std::to_string(codes_.size() + 1) + "." + slack::base64url_encode(slack::random_bytes(12));
    IssuedCode issued{.team_id = field(*fields, "team"),
                      .team_name = field(*fields, "team_name"),
                      .user_id = field(*fields, "user"),
                      .redirect_uri = redirect_uri,
                      .scope = field(*fields, "scope"),
                      .expires = std::chrono::steady_clock::now() + kCodeLifetime};
    if (issued.team_id.empty()) issued.team_id = options_.default_workspace;
    if (issued.team_name.empty()) issued.team_name = "Workspace " + issued.team_id;
    if (issued.user_id.empty()) issued.user_id = "U0INSTALLER";
    codes_.emplace(code, std::move(issued));
    back = {{"code", code}, {"state", field(*fields, "state")}};
  }
  http::Response response{bh::status::found, version};
  response.set(bh::field::location, redirect_uri +
                                        (redirect_uri.find('?') == std::string::npos ? "?" : "&") +
                                        http::form_body(back));
  response.prepare_payload();
  return response;
}

http::Response SlackSimulator::oauth_access(const http::Request& request) {
  const unsigned version = request.version();
  const auto fields = http::parse_form(request.body());
  if (!fields) return oauth_error("invalid_form_data", version);
  std::string client_id = field(*fields, "client_id");
  std::string client_secret = field(*fields, "client_secret");
  // HTTP Basic authentication is the other way Slack takes the credentials.
  const std::string authorization(request[bh::field::authorization]);
  if (authorization.starts_with("Basic ")) {
    std::string decoded;
    if (slack::base64_decode(authorization.substr(6), decoded)) {
      const auto colon = decoded.find(':');
      client_id = decoded.substr(0, colon);
      client_secret = colon == std::string::npos ? "" : decoded.substr(colon + 1);
    }
  }
  const std::string code = field(*fields, "code");
  if (client_id.empty() || code.empty()) return oauth_error("invalid_arguments", version);
  if (client_id != options_.client_id) return oauth_error("invalid_client_id", version);
  if (client_secret != options_.client_secret) return oauth_error("bad_client_secret", version);
  const auto it = codes_.find(code);
  if (it == codes_.end() || std::chrono::steady_clock::now() > it->second.expires) {
    return oauth_error("invalid_code", version);
  }
  IssuedCode& issued = it->second;
  if (issued.used) return oauth_error("code_already_used", version);
  const std::string redirect_uri = field(*fields, "redirect_uri");
  if (!redirect_uri.empty() && redirect_uri != issued.redirect_uri) {
    return oauth_error("bad_redirect_uri", version);
  }
  issued.used = true;
  IssuedToken token{"xoxb-" + issued.team_id + "-" + std::to_string(tokens_.size() + 1) + "-" +
                        slack::base64url_encode(slack::random_bytes(18)),
                    issued.team_id};
  tokens_.push_back(token);
  return answer({{"ok", true},
                 {"access_token", token.token},
                 {"token_type", "bot"},
                 {"scope", issued.scope},
                 {"bot_user_id", "U0BOT" + issued.team_id},
                 {"app_id", "A0SIMAPP"},
                 {"team", {{"id", issued.team_id}, {"name", issued.team_name}}},
                 {"enterprise", nullptr},
                 {"is_enterprise_install", false},
                 {"authed_user", {{"id", issued.user_id}}}},
                version);
}

std::optional<std::string> SlackSimulator::token_workspace(const std::string& token,
                                                           bool& revoked) const {
  revoked = false;
  if (token == options_.token) return std::string{};
  for (const auto& issued : tokens_) {
    if (issued.token == token) {
      revoked = issued.revoked;
      return issued.team_id;
    }
  }
  return std::nullopt;
}

http::Response SlackSimulator::users_info(const http::Request& request) {
  const unsigned version = request.version();
  const std::string authorization(request[bh::field::authorization]);
  const auto fields = http::parse_form(request.body());
  std::string token = authorization.starts_with("Bearer ") ? authorization.substr(7) : "";
  if (token.empty() && fields) token = field(*fields, "token");
  if (token.empty()) return oauth_error("not_authed", version);
  bool revoked = false;
  if (!token_workspace(token, revoked)) return oauth_error("invalid_auth", version);
  if (revoked) return oauth_error("token_revoked", version);
  const std::string user = fields ? field(*fields, "user") : "";
  if (user.empty() || (user.front() != 'U' && user.front() != 'W')) {
    return oauth_error("user_not_found", version);
  }
  ++users_info_requests_[user];
  const auto zone = options_.user_time_zones.find(user);
  const std::string tz =
      zone != options_.user_time_zones.end() ? zone->second : options_.default_user_time_zone;
  json answered = {{"ok", true},
                   {"user",
                    {{"id", user},
                     {"name", "person-" + user},
                     {"deleted", false},
                     {"is_bot", false},
                     {"tz", tz},
                     {"tz_label", tz},
                     {"tz_offset", 0}}}};
  // https://api.slack.com/methods/users.info: the locale only when asked for.
  if (fields && field(*fields, "include_locale") == "true") {
    const auto locale = options_.user_locales.find(user);
    answered["user"]["locale"] =
        locale != options_.user_locales.end() ? locale->second : options_.default_user_locale;
  }
  return answer(std::move(answered), version);
}

http::Response SlackSimulator::views_publish(const http::Request& request) {
  const unsigned version = request.version();
  const std::string authorization(request[bh::field::authorization]);
  if (!authorization.starts_with("Bearer ")) return oauth_error("not_authed", version);
  bool revoked = false;
  const auto workspace = token_workspace(authorization.substr(7), revoked);
  if (!workspace) return oauth_error("invalid_auth", version);
  if (revoked) return oauth_error("token_revoked", version);
  const json body = json::parse(request.body(), nullptr, false);
  if (!body.is_object()) return oauth_error("invalid_json", version);
  const std::string user = body.value("user_id", "");
  if (user.empty()) return oauth_error("invalid_arguments", version);
  const auto view = body.find("view");
  if (view == body.end() || !view->is_object() || view->value("type", "") != "home") {
    return oauth_error("invalid_arguments", version);
  }
  const auto blocks = view->find("blocks");
  if (blocks == view->end() || !blocks->is_array() || blocks->size() > 100) {
    return oauth_error("invalid_blocks", version);
  }
  home_views_.push_back({user, *workspace, *view});
  return answer({{"ok", true},
                 {"view", {{"id", "V" + std::to_string(home_views_.size())}, {"type", "home"}}}},
                version);
}

std::vector<HomeView> SlackSimulator::home_views() const {
  std::lock_guard lock(mutex_);
  return home_views_;
}

void SlackSimulator::set_user_time_zone(const std::string& user_id, const std::string& time_zone) {
  std::lock_guard lock(mutex_);
  options_.user_time_zones[user_id] = time_zone;
}

void SlackSimulator::set_user_locale(const std::string& user_id, const std::string& locale) {
  std::lock_guard lock(mutex_);
  options_.user_locales[user_id] = locale;
}

std::map<std::string, int> SlackSimulator::users_info_requests() const {
  std::lock_guard lock(mutex_);
  return users_info_requests_;
}

std::vector<CommandResponse> SlackSimulator::responses() const {
  std::lock_guard lock(mutex_);
  return responses_;
}

std::vector<IssuedToken> SlackSimulator::issued_tokens() const {
  std::lock_guard lock(mutex_);
  return tokens_;
}

bool SlackSimulator::revoke(const std::string& team_id) {
  std::lock_guard lock(mutex_);
  bool any = false;
  for (auto& issued : tokens_) {
    if (issued.team_id == team_id && !issued.revoked) {
      issued.revoked = true;
      any = true;
    }
  }
  return any;
}

}  // namespace tracker::loadtest
