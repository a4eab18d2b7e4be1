#include <tracker/app/install.hpp>

#include <algorithm>
#include <iterator>

#include <boost/beast/http/field.hpp>

#include <tracker/http/form.hpp>
#include <tracker/metrics/declare.hpp>

namespace tracker::app {

namespace bh = boost::beast::http;

namespace {

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

http::Response page(bh::status status, std::string_view title, std::string_view message,
                    unsigned version) {
  http::Response response{status, version};
  response.set(bh::field::content_type, "text/html; charset=utf-8");
  response.set(bh::field::cache_control, "no-store");
  response.set("x-content-type-options", "nosniff");
  response.set("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'");
  response.body() =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
      html_escape(title) +
      "</title><style>body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em}"
      "</style></head>\n<body><h1>" +
      html_escape(title) + "</h1>\n<p>" + html_escape(message) + "</p></body></html>\n";
  response.prepare_payload();
  return response;
}

}  // namespace

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semicolon = header.find(';');
    std::string_view pair = header.substr(0, semicolon);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
      return pair.substr(equals + 1);
    }
    if (semicolon == std::string_view::npos) break;
    header.remove_prefix(semicolon + 1);
  }
  return {};
}

std::string html_escape(std::string_view text) {
  static constexpr std::pair<char, std::string_view> kEntities[] = {
      {'&', "&amp;"}, {'<', "&lt;"}, {'>', "&gt;"}, {'"', "&quot;"}, {'\'', "&#39;"}};
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto* entity = std::find_if(std::begin(kEntities), std::end(kEntities),
                                      [c](const auto& e) { return e.first == c; });
    if (entity == std::end(kEntities)) {
      out += c;
    } else {
      out += entity->second;
    }
  }
  return out;
}

InstallHandler::InstallHandler(InstallOptions options, slack::StateSigner signer,
                               slack::OAuthClient& oauth, workspaces::Installations& installations,
                               prometheus::Registry& registry, log::Logger& logger, WallClock clock)
    : options_(std::move(options)),
      signer_(std::move(signer)),
      oauth_(oauth),
      installations_(installations),
      logger_(logger),
      clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }),
      outcomes_(metrics::counters(registry, "tracker_app_installs_total",
                                  "OAuth installs by outcome (started, installed, cancelled, "
                                  "bad_state, expired_state, other_browser, replayed_state, "
                                  "code_refused, slack_unavailable, database_unavailable).")) {}

std::string InstallHandler::route_label(std::string_view target) {
  const auto path = path_of(target);
  if (path == kInstallPath || path == kRedirectPath) return std::string(path);
  return "other";
}

boost::asio::awaitable<http::Response> InstallHandler::handle(http::Request& request) {
  const auto path = path_of(request.target());
  if (path != kInstallPath && path != kRedirectPath) {
    co_return http::error_response(bh::status::not_found, "not_found",
                                   "no such path; installs start at /slack/install",
                                   request.version());
  }
  if (request.method() != bh::verb::get && request.method() != bh::verb::head) {
    co_return http::method_not_allowed("GET, HEAD", request.version());
  }
  if (path == kInstallPath) co_return install(request);
  co_return co_await redirect(request);
}

http::Response InstallHandler::install(const http::Request& request) {
  const auto issued = signer_.issue(clock_());
  const std::string location =
      slack::authorize_url(options_.authorize_url, options_.client_id, slack::kBotScopes,
                           options_.redirect_uri, issued.state);
  http::Response response = page(bh::status::found, "Add the study tracker to Slack",
                                 "Continuing to Slack to choose a workspace.", request.version());
  response.set(bh::field::location, location);
  std::string cookie =
      std::string(kStateCookie) + "=" + issued.nonce + "; Path=" + std::string(kRedirectPath) +
      "; Max-Age=" + std::to_string(signer_.lifetime().count()) + "; HttpOnly; SameSite=Lax";
  if (options_.secure_cookie) cookie += "; Secure";
  response.set(bh::field::set_cookie, cookie);
  outcomes_.Add({{"outcome", "started"}}).Increment();
  return response;
}

http::Response InstallHandler::refused(const http::Request& request, bh::status status,
                                       std::string_view outcome, std::string_view title,
                                       std::string_view detail) {
  outcomes_.Add({{"outcome", std::string(outcome)}}).Increment();
  logger_.warn("install_refused", {{"outcome", outcome}, {"detail", detail}});
  return page(status, title, detail, request.version());
}

boost::asio::awaitable<http::Response> InstallHandler::redirect(const http::Request& request) {
  const auto fields = http::parse_form(http::query_of(request.target()));
  if (!fields) {
    co_return refused(request, bh::status::bad_request, "bad_state", "Not installed",
                      "The address is not one Slack sends back. Start again from the install "
                      "link.");
  }
  if (const auto error = http::form_value(*fields, "error")) {
    co_return refused(request, bh::status::bad_request, "cancelled", "Not installed",
                      *error == "access_denied"
                          ? "The app was not allowed into the workspace, so nothing was installed."
                          : "Slack stopped the install (" + *error + "). Nothing was installed.");
  }
  const auto code = http::form_value(*fields, "code").value_or("");
  const auto state = http::form_value(*fields, "state").value_or("");
  if (code.empty() || state.empty()) {
    co_return refused(request, bh::status::bad_request, "bad_state", "Not installed",
                      "The address lacks Slack's code or state. Start again from the install "
                      "link.");
  }
  const auto cookie_header = request.find(bh::field::cookie);
  const std::string_view cookie =
      cookie_header == request.end()
          ? std::string_view{}
          : cookie_value(std::string_view(cookie_header->value()), kStateCookie);
  const auto checked = signer_.check(state, cookie, clock_());
  if (!checked) {
    switch (checked.error().kind) {
      case slack::StateFailure::Kind::expired:
        co_return refused(request, bh::status::bad_request, "expired_state",
                          "This install link has expired",
                          "It is good for " + std::to_string(signer_.lifetime().count() / 60) +
                              " minutes. Start again from the install link; nothing was "
                              "installed.");
      case slack::StateFailure::Kind::other_browser:
        co_return refused(request, bh::status::bad_request, "other_browser", "Not installed",
                          "This install was started in another browser (or its cookie is "
                          "gone). Start again from the install link in this browser.");
      default:
        co_return refused(request, bh::status::bad_request, "bad_state", "Not installed",
                          "The install's state is not one this app issued (" +
                              std::string(slack::to_string(checked.error().kind)) +
                              "). Start again from the install link; nothing was installed.");
    }
  }
  const auto database_away = [&](const pg::Error& error, std::string_view detail) {
    logger_.warn("install_database_error", {{"error", error.describe()}});
    return refused(request, bh::status::service_unavailable, "database_unavailable",
                   "Not installed yet", detail);
  };
  // Once only, before the code is spent: a replay is refused without asking Slack.
  const auto expires = clock_() + signer_.lifetime();
  const auto fresh = co_await installations_.use_state(*checked, expires);
  if (!fresh) {
    co_return database_away(fresh.error(),
                            "The tracker cannot reach its database right now. Start again from "
                            "the install link in a minute.");
  }
  if (!*fresh) {
    co_return refused(request, bh::status::bad_request, "replayed_state", "Not installed",
                      "This install link was used already. Start again from the install link.");
  }
  auto exchanged = co_await oauth_.exchange(code, options_.redirect_uri);
  if (!exchanged) {
    const auto& failure = exchanged.error();
    logger_.warn("oauth_access_failed", {{"error", failure.error}, {"detail", failure.detail}});
    if (failure.retryable) {
      co_return refused(request, bh::status::service_unavailable, "slack_unavailable",
                        "Not installed yet",
                        "Slack did not answer the install (" + failure.error +
                            "). Start again from the install link in a minute.");
    }
    co_return refused(
        request, bh::status::bad_request, "code_refused", "Not installed",
        "Slack refused the install (" + failure.error + "). Start again from the install link.");
  }
  const slack::Installation& installation = *exchanged;
  const auto saved = co_await installations_.save(installation);
  if (!saved) {
    co_return database_away(saved.error(),
                            "Slack allowed the install, but the tracker could not keep it. Start "
                            "again from the install link in a minute.");
  }
  outcomes_.Add({{"outcome", "installed"}}).Increment();
  logger_.info("installed", {{"team_id", installation.team_id},
                             {"team_name", installation.team_name},
                             {"bot_user_id", installation.bot_user_id},
                             {"scope", installation.scope},
                             {"installer", installation.installer_user_id}});
  auto response =
      page(bh::status::ok, "Installed",
           "The study tracker is now in " +
               (installation.team_name.empty() ? installation.team_id : installation.team_name) +
               ". Invite it to your study channel with /invite @study-tracker, "
               "then type /study help.",
           request.version());
  response.set(bh::field::set_cookie,
               std::string(kStateCookie) + "=; Path=" + std::string(kRedirectPath) + "; Max-Age=0");
  co_return response;
}

}  // namespace tracker::app
