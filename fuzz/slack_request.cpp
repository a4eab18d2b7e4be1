// What a signed Slack request asks for (libs/slack request.cpp): classify() of an Events API
// body (a one-pass SAX reader), read_slash_command() and read_block_action() of form-encoded
// bodies. The input is a body, read all four ways.
//
// Checked: nothing throws; classify() of JSON agrees with what a DOM lookup of the same body
// finds (the reader promises that: the last duplicate key wins, a value of the wrong type counts
// as absent; a body with a NUL byte is not JSON); a slash command has its required fields and an
// http(s) response_url; a block action is one of the two buttons.
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include <tracker/slack/request.hpp>

#include "fuzz_support.hpp"

namespace {

using nlohmann::json;
using tracker::fuzz::require;
namespace slack = tracker::slack;

const std::string* string_at(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || !it->is_string() ? nullptr : &it->get_ref<const std::string&>();
}

// classify() as a DOM lookup would do it: the reference the SAX reader must agree with.
void check_against_dom(std::string_view body, const slack::SlackRequest& classified) {
  // The JSON parser reads a NUL byte as the end of the input; JSON has none, so such a body is
  // not JSON (classify refuses it; the DOM would read up to the NUL).
  if (body.find('\0') != std::string_view::npos) {
    require(std::holds_alternative<slack::Malformed>(classified), "a body with a NUL classified");
    return;
  }
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    require(std::holds_alternative<slack::Malformed>(classified), "non-object classified");
    return;
  }
  const std::string* type = string_at(doc, "type");
  if (type == nullptr) {
    require(std::holds_alternative<slack::Malformed>(classified), "no type but not Malformed");
    return;
  }
  if (*type == "event_callback") {
    const std::string* event_id = string_at(doc, "event_id");
    const std::string* team_id = string_at(doc, "team_id");
    const auto event = doc.find("event");
    const bool usable = event_id != nullptr && !event_id->empty() && team_id != nullptr &&
                        !team_id->empty() && event != doc.end() && event->is_object() &&
                        string_at(*event, "type") != nullptr && !string_at(*event, "type")->empty();
    const auto* callback = std::get_if<slack::EventCallback>(&classified);
    require(usable == (callback != nullptr), "event_callback: DOM and reader disagree", body);
    if (!usable) return;
    std::string user;
    if (const auto* u = string_at(*event, "user")) {
      user = *u;
    } else if (const auto* m =
                   event->contains("message") ? string_at((*event)["message"], "user") : nullptr) {
      user = *m;
    } else if (const auto* p = event->contains("previous_message")
                                   ? string_at((*event)["previous_message"], "user")
                                   : nullptr) {
      user = *p;
    }
    require(callback->event_id == *event_id, "event_id differs", body);
    require(callback->team_id == *team_id, "team_id differs", body);
    require(callback->event_type == *string_at(*event, "type"), "event type differs", body);
    require(callback->user_id == user, "user differs", body);
  } else if (*type == "url_verification") {
    const std::string* challenge = string_at(doc, "challenge");
    const auto* verification = std::get_if<slack::UrlVerification>(&classified);
    require((challenge != nullptr) == (verification != nullptr), "url_verification differs");
    if (challenge != nullptr) require(verification->challenge == *challenge, "challenge differs");
  } else if (*type == "app_rate_limited") {
    const auto* limited = std::get_if<slack::AppRateLimited>(&classified);
    require(limited != nullptr, "app_rate_limited not recognised");
    const std::string* team_id = string_at(doc, "team_id");
    require(limited->team_id == (team_id != nullptr ? *team_id : ""), "team_id differs", body);
  } else {
    require(std::holds_alternative<slack::Malformed>(classified), "unknown type classified");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto body = tracker::fuzz::as_text(data, size);
  const auto classified = slack::classify(body, slack::BodyFormat::json);
  check_against_dom(body, classified);
  const auto form = slack::classify(body, slack::BodyFormat::form);
  require(std::holds_alternative<slack::SslCheck>(form) ||
              std::holds_alternative<slack::Malformed>(form),
          "a form body is an ssl_check or nothing");

  const auto command = slack::read_slash_command(body);
  if (const auto* slash = std::get_if<slack::SlashCommand>(&command)) {
    require(!slash->team_id.empty() && !slash->user_id.empty() && !slash->command.empty(),
            "slash command without a required field");
    require(
        slash->response_url.starts_with("https://") || slash->response_url.starts_with("http://"),
        "slash command response_url");
  }
  const auto action = slack::read_block_action(body);
  if (const auto* pressed = std::get_if<slack::BlockAction>(&action)) {
    require(!pressed->team_id.empty() && !pressed->user_id.empty(), "block action ids");
    require((pressed->action_id == slack::kPauseAction && pressed->text == "pause") ||
                (pressed->action_id == slack::kResumeAction && pressed->text == "resume"),
            "block action is not one of the two buttons");
  }
  return 0;
}
