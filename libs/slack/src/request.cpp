#include <tracker/slack/request.hpp>

#include <nlohmann/json.hpp>

#include <tracker/http/form.hpp>

namespace tracker::slack {

namespace {

const std::string* string_at(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

// The user an event is about: the author of a message, or of the edited or deleted message.
std::string acting_user(const nlohmann::json& event) {
  if (const auto* user = string_at(event, "user")) return *user;
  for (const char* nested : {"message", "previous_message"}) {
    auto it = event.find(nested);
    if (it != event.end() && it->is_object()) {
      if (const auto* user = string_at(*it, "user")) return *user;
    }
  }
  return {};
}

SlackRequest classify_form(std::string_view body) {
  // Only the ssl_check probe arrives form-encoded here: "ssl_check=1&token=...".
  std::string_view rest = body;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    if (rest.substr(0, amp) == "ssl_check=1") return SslCheck{};
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return Malformed{"form-encoded body without ssl_check=1"};
}

SlackRequest classify_callback(const nlohmann::json& body) {
  const auto* event_id = string_at(body, "event_id");
  if (event_id == nullptr || event_id->empty()) return Malformed{"event_callback without event_id"};
  const auto* team_id = string_at(body, "team_id");
  if (team_id == nullptr || team_id->empty()) return Malformed{"event_callback without team_id"};
  auto event = body.find("event");
  if (event == body.end() || !event->is_object()) return Malformed{"event_callback without event"};
  const auto* type = string_at(*event, "type");
  if (type == nullptr || type->empty()) return Malformed{"event without type"};
  return EventCallback{*event_id, *team_id, acting_user(*event), *type};
}

}  // namespace

SlackRequest classify(std::string_view body, BodyFormat format) {
  if (format == BodyFormat::form) return classify_form(body);
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded()) return Malformed{"body is not valid JSON"};
  if (!json.is_object()) return Malformed{"body is not a JSON object"};
  const auto* type = string_at(json, "type");
  if (type == nullptr) return Malformed{"body has no type"};
  if (*type == "event_callback") return classify_callback(json);
  if (*type == "url_verification") {
    const auto* challenge = string_at(json, "challenge");
    if (challenge == nullptr) return Malformed{"url_verification without challenge"};
    return UrlVerification{*challenge};
  }
  if (*type == "app_rate_limited") {
    const auto* team_id = string_at(json, "team_id");
    auto minute = json.find("minute_rate_limited");
    return AppRateLimited{
        team_id ? *team_id : "",
        minute != json.end() && minute->is_number_integer() ? minute->get<std::int64_t>() : 0};
  }
  return Malformed{"unknown envelope type \"" + *type + "\""};
}

std::variant<SlashCommand, Malformed> read_slash_command(std::string_view body) {
  const auto fields = http::parse_form(body);
  if (!fields) return Malformed{"body is not form-encoded (a broken %-escape)"};
  SlashCommand command;
  for (const auto& [name, out] : {std::pair<const char*, std::string*>{"team_id", &command.team_id},
                                  {"user_id", &command.user_id},
                                  {"command", &command.command},
                                  {"response_url", &command.response_url}}) {
    *out = http::form_value(*fields, name).value_or("");
    if (out->empty()) return Malformed{std::string("slash command without ") + name};
  }
  command.channel_id = http::form_value(*fields, "channel_id").value_or("");
  command.text = http::form_value(*fields, "text").value_or("");
  if (!command.response_url.starts_with("https://") &&
      !command.response_url.starts_with("http://")) {
    return Malformed{"response_url is not an http(s) URL"};
  }
  return command;
}

}  // namespace tracker::slack
