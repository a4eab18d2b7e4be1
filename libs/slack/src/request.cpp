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

std::variant<BlockAction, Malformed> read_block_action(std::string_view body) {
  const auto fields = http::parse_form(body);
  if (!fields) return Malformed{"body is not form-encoded (a broken %-escape)"};
  const auto payload_text = http::form_value(*fields, "payload");
  if (!payload_text || payload_text->empty()) return Malformed{"interaction without payload"};
  const auto payload = nlohmann::json::parse(*payload_text, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) {
    return Malformed{"payload is not a JSON object"};
  }
  const auto* type = string_at(payload, "type");
  if (type == nullptr) return Malformed{"payload without type"};
  if (*type != "block_actions") {
    return Malformed{"payload type \"" + type->substr(0, 40) +
                     "\" is not handled (the app's only interactions are its App Home buttons)"};
  }
  BlockAction action;
  for (const auto& [object, out] :
       {std::pair<const char*, std::string*>{"team", &action.team_id}, {"user", &action.user_id}}) {
    const auto it = payload.find(object);
    const auto* id = it != payload.end() && it->is_object() ? string_at(*it, "id") : nullptr;
    if (id == nullptr || id->empty()) return Malformed{std::string("payload without ") + object};
    *out = *id;
  }
  const auto actions = payload.find("actions");
  if (actions == payload.end() || !actions->is_array() || actions->empty() ||
      !actions->front().is_object()) {
    return Malformed{"payload without actions"};
  }
  const auto* action_id = string_at(actions->front(), "action_id");
  if (action_id == nullptr) return Malformed{"action without action_id"};
  if (*action_id == kPauseAction) {
    action.text = "pause";
  } else if (*action_id == kResumeAction) {
    action.text = "resume";
  } else {
    return Malformed{"unknown action_id \"" + action_id->substr(0, 40) + "\""};
  }
  action.action_id = *action_id;
  return action;
}

}  // namespace tracker::slack
