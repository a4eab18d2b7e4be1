#include <tracker/messages/command.hpp>

#include <nlohmann/json.hpp>

#include <tracker/log/timestamp.hpp>

namespace tracker::messages {

using nlohmann::json;

std::string encode_command(const CommandRecord& record) {
  json out{{"schema", kCommandSchema},
           {"team_id", record.team_id},
           {"user_id", record.user_id},
           {"channel_id", record.channel_id},
           {"command", record.command},
           {"text", record.text},
           {"received_at", log::iso8601_utc(record.received_at)},
           {"origin", record.origin}};
  if (!record.response_url.empty()) out["response_url"] = record.response_url;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string command_key(const CommandRecord& record) {
  return record.team_id + ":" + record.user_id;
}

DecodeResult<CommandRecord> decode_command(std::string_view value) {
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return DecodeError{"invalid_json", "the record is not a JSON object"};
  }
  const auto text = [&](const char* name, std::string& out, bool required) -> bool {
    const auto it = parsed.find(name);
    if (it == parsed.end()) return !required;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return !(required && out.empty());
  };
  std::string schema;
  if (!text("schema", schema, true)) return DecodeError{"missing_field", "command.schema"};
  if (schema != kCommandSchema) {
    return DecodeError{"unknown_schema", "command.schema is \"" + schema + "\""};
  }
  CommandRecord record;
  if (!text("origin", record.origin, false) ||
      (record.origin != kOriginSlashCommand && record.origin != kOriginAppHome)) {
    return DecodeError{"invalid_field", "command.origin"};
  }
  const bool typed = record.origin == kOriginSlashCommand;
  for (const auto& [name, out, required] :
       {std::tuple<const char*, std::string*, bool>{"team_id", &record.team_id, true},
        {"user_id", &record.user_id, true},
        {"channel_id", &record.channel_id, false},
        {"command", &record.command, true},
        {"text", &record.text, false},
        {"response_url", &record.response_url, typed}}) {
    if (!text(name, *out, required)) {
      return DecodeError{parsed.contains(name) ? "invalid_field" : "missing_field",
                         std::string("command.") + name};
    }
  }
  std::string received;
  if (text("received_at", received, false) && !received.empty()) {
    const auto at = log::parse_iso8601_utc(received);
    if (!at) return DecodeError{"invalid_field", "command.received_at"};
    record.received_at = *at;
  }
  return record;
}

}  // namespace tracker::messages
