#include <tracker/messages/outbox.hpp>

#include <algorithm>

#include <tracker/log/timestamp.hpp>

namespace tracker::messages {

using nlohmann::json;

namespace {

bool slack_id(std::string_view id) {
  return id.size() >= 2 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
         });
}

bool slack_ts(std::string_view ts) {
  const auto dot = ts.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == ts.size()) return false;
  return std::all_of(ts.begin(), ts.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) &&
         ts.find('.', dot + 1) == std::string_view::npos;
}

}  // namespace

bool is_user_id(std::string_view channel) {
  return !channel.empty() && (channel.front() == 'U' || channel.front() == 'W');
}

DecodeResult<OutboxMessage> decode_outbox(std::string_view value) {
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return DecodeError{"invalid_json", "the record is not a JSON object"};
  }
  const auto string_field = [&](const char* name, bool required,
                                std::string& out) -> std::optional<DecodeError> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || it->is_null()) {
      if (required) return DecodeError{"missing_field", std::string(name) + " is missing"};
      return std::nullopt;
    }
    if (!it->is_string()) {
      return DecodeError{"invalid_field", std::string(name) + " is not a string"};
    }
    out = it->get<std::string>();
    if (required && out.empty()) {
      return DecodeError{"invalid_field", std::string(name) + " is empty"};
    }
    return std::nullopt;
  };

  std::string schema;
  if (auto error = string_field("schema", true, schema)) return *error;
  if (schema != kOutboxSchema) {
    return DecodeError{"unknown_schema", "schema \"" + schema.substr(0, 64) + "\" is not " +
                                             std::string(kOutboxSchema)};
  }
  OutboxMessage message;
  for (auto [name, target] :
       {std::pair{"delivery_id", &message.delivery_id}, std::pair{"team_id", &message.team_id},
        std::pair{"channel", &message.channel}, std::pair{"text", &message.text}}) {
    if (auto error = string_field(name, true, *target)) return *error;
  }
  if (auto error = string_field("thread_ts", false, message.thread_ts)) return *error;
  if (message.delivery_id.size() > 200) {
    return DecodeError{"invalid_field", "delivery_id is longer than 200 characters"};
  }
  if (!slack_id(message.channel) ||
      std::string_view("CDGUW").find(message.channel.front()) == std::string_view::npos) {
    return DecodeError{"invalid_field", "channel is not a Slack channel or user id"};
  }
  if (!message.thread_ts.empty() && !slack_ts(message.thread_ts)) {
    return DecodeError{"invalid_field", "thread_ts is not a Slack ts"};
  }
  if (const auto it = parsed.find("blocks"); it != parsed.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > 50 ||
        !std::all_of(it->begin(), it->end(), [](const json& b) { return b.is_object(); })) {
      return DecodeError{"invalid_field", "blocks is not an array of at most 50 objects"};
    }
    message.blocks = *it;
  }
  std::string created;
  if (auto error = string_field("created_at", false, created)) return *error;
  if (!created.empty()) {
    message.created_at = log::parse_iso8601_utc(created);
    if (!message.created_at) {
      return DecodeError{"invalid_field", "created_at is not an RFC 3339 time"};
    }
  }
  if (const auto it = parsed.find("origin"); it != parsed.end() && !it->is_null()) {
    if (!it->is_object()) return DecodeError{"invalid_field", "origin is not an object"};
    message.origin = *it;
  }
  return message;
}

std::string encode_outbox(const OutboxMessage& message) {
  json out = {{"schema", kOutboxSchema},
              {"delivery_id", message.delivery_id},
              {"team_id", message.team_id},
              {"channel", message.channel},
              {"text", message.text}};
  if (message.blocks) out["blocks"] = *message.blocks;
  if (!message.thread_ts.empty()) out["thread_ts"] = message.thread_ts;
  if (message.created_at) out["created_at"] = log::iso8601_utc(*message.created_at);
  if (message.origin) out["origin"] = *message.origin;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tracker::messages
