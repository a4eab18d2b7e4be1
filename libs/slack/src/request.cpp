#include <tracker/slack/request.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include <tracker/http/form.hpp>

namespace tracker::slack {

namespace {

const std::string* string_at(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
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

}  // namespace

namespace {

// The fields of an Events API body that ingest reads, found in one SAX pass: no document is
// built, so a request costs no allocation per JSON value (the lexer reuses one buffer). What a
// DOM lookup would see is kept: the last of duplicate keys wins, and a key whose value is not a
// string (or, for "event", not an object) counts as absent.
class EnvelopeFields final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::optional<std::string> type, challenge, team_id, event_id;
  std::optional<std::string> event_type, event_user, message_user, previous_user;
  bool event_is_object = false;
  std::optional<std::int64_t> minute_rate_limited;
  bool top_is_object = false;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t value) override {
    if (at(Where::top, "minute_rate_limited")) {
      scalar();
      minute_rate_limited = value;
      return true;
    }
    return scalar();
  }
  bool number_unsigned(number_unsigned_t value) override {
    if (at(Where::top, "minute_rate_limited") &&
        value <= static_cast<number_unsigned_t>(std::numeric_limits<std::int64_t>::max())) {
      scalar();
      minute_rate_limited = static_cast<std::int64_t>(value);
      return true;
    }
    return scalar();
  }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool string(string_t& value) override {
    if (std::optional<std::string>* slot = string_slot()) {
      scalar();
      *slot = std::move(value);
      return true;
    }
    return scalar();
  }
  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      top_is_object = true;
      stack_.push_back({Where::top, {}});
      return true;
    }
    Where inside = Where::other;
    if (at(Where::top, "event")) {
      inside = Where::event;
      event_is_object = true;
      event_type.reset();
      event_user.reset();
      message_user.reset();
      previous_user.reset();
    } else if (at(Where::event, "message")) {
      inside = Where::message;
      message_user.reset();
    } else if (at(Where::event, "previous_message")) {
      inside = Where::previous;
      previous_user.reset();
    } else {
      scalar();  // any other key's value is now not a string
    }
    stack_.push_back({inside, {}});
    return true;
  }
  bool key(string_t& name) override {
    stack_.back().key = std::move(name);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (!stack_.empty()) scalar();
    stack_.push_back({Where::array, {}});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  enum class Where { top, event, message, previous, array, other };
  struct Level {
    Where where;
    std::string key;
  };
  std::vector<Level> stack_;

  [[nodiscard]] bool at(Where where, std::string_view key) const {
    return !stack_.empty() && stack_.back().where == where && stack_.back().key == key;
  }
  // The string field this value belongs to, if any.
  std::optional<std::string>* string_slot() {
    if (stack_.empty()) return nullptr;
    const Level& level = stack_.back();
    switch (level.where) {
      case Where::top:
        if (level.key == "type") return &type;
        if (level.key == "challenge") return &challenge;
        if (level.key == "team_id") return &team_id;
        if (level.key == "event_id") return &event_id;
        return nullptr;
      case Where::event:
        if (level.key == "type") return &event_type;
        if (level.key == "user") return &event_user;
        return nullptr;
      case Where::message: return level.key == "user" ? &message_user : nullptr;
      case Where::previous: return level.key == "user" ? &previous_user : nullptr;
      default: return nullptr;
    }
  }
  // A value that is not a string (or not the object a key needs) arrived: the key it belongs to
  // is absent from now on, as a DOM lookup of the last duplicate would find. Always true.
  bool scalar() {
    if (auto* slot = string_slot()) slot->reset();
    if (at(Where::top, "event")) event_is_object = false;
    if (at(Where::top, "minute_rate_limited")) minute_rate_limited.reset();
    if (at(Where::event, "message")) message_user.reset();
    if (at(Where::event, "previous_message")) previous_user.reset();
    return true;
  }
};

}  // namespace

SlackRequest classify(std::string_view body, BodyFormat format) {
  if (format == BodyFormat::form) return classify_form(body);
  // JSON has no raw NUL byte (in a string it is escaped), and nlohmann's lexer takes one for the
  // end of the input: "{...}\0garbage" would pass here, and the envelope that embeds the body
  // would then not parse.
  if (body.find('\0') != std::string_view::npos) return Malformed{"body is not valid JSON"};
  EnvelopeFields fields;
  if (!nlohmann::json::sax_parse(body, &fields)) return Malformed{"body is not valid JSON"};
  if (!fields.top_is_object) return Malformed{"body is not a JSON object"};
  if (!fields.type) return Malformed{"body has no type"};
  const std::string& type = *fields.type;
  if (type == "event_callback") {
    if (!fields.event_id || fields.event_id->empty()) {
      return Malformed{"event_callback without event_id"};
    }
    if (!fields.team_id || fields.team_id->empty()) {
      return Malformed{"event_callback without team_id"};
    }
    if (!fields.event_is_object) return Malformed{"event_callback without event"};
    if (!fields.event_type || fields.event_type->empty()) return Malformed{"event without type"};
    // The acting user: the author of a message, or of the edited or deleted message.
    std::string user = fields.event_user      ? std::move(*fields.event_user)
                       : fields.message_user  ? std::move(*fields.message_user)
                       : fields.previous_user ? std::move(*fields.previous_user)
                                              : std::string();
    return EventCallback{std::move(*fields.event_id), std::move(*fields.team_id), std::move(user),
                         std::move(*fields.event_type)};
  }
  if (type == "url_verification") {
    if (!fields.challenge) return Malformed{"url_verification without challenge"};
    return UrlVerification{std::move(*fields.challenge)};
  }
  if (type == "app_rate_limited") {
    return AppRateLimited{fields.team_id.value_or(""), fields.minute_rate_limited.value_or(0)};
  }
  return Malformed{"unknown envelope type \"" + type + "\""};
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
