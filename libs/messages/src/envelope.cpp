#include <tracker/messages/envelope.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include <tracker/log/timestamp.hpp>

namespace tracker::messages {

using nlohmann::json;

namespace {

std::string json_string(std::string_view text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The member `name`, or nullptr when it is absent or null.
const json* member(const json& object, const char* name) {
  const auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

DecodeError missing(const char* name) {
  return {"missing_field", std::string("envelope.") + name + " is missing"};
}

DecodeError bad_value(const char* name, std::string_view what) {
  return {"bad_value", std::string("envelope.") + name + " " + std::string(what)};
}

// A required non-empty string.
std::optional<DecodeError> required_string(const json& envelope, const char* name,
                                           std::string& out) {
  const json* value = member(envelope, name);
  if (value == nullptr) return missing(name);
  if (!value->is_string()) return bad_value(name, "is not a string");
  out = value->get<std::string>();
  if (out.empty()) return bad_value(name, "is empty");
  return std::nullopt;
}

// An optional string: left as it is when absent.
// Delivery metadata (who, what kind, when received, Slack's retries) helps the reader but is not
// needed to store the event: a value of the wrong shape is left out rather than refusing the
// record, which ingest acknowledged.
std::string metadata_string(const json& envelope, const char* name) {
  const json* value = member(envelope, name);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

// `text` as a JSON string, appended in place. For text read out of a parsed JSON document (so
// valid UTF-8): only the quote, the backslash and control characters need escaping.
void append_parsed_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0x0FU]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

std::string make_envelope(const slack::EventCallback& event, std::string_view raw_body,
                          const Delivery& delivery) {
  std::string out;
  out.reserve(raw_body.size() + 256);
  out.append(R"({"schema":")").append(kEnvelopeSchema).append("\"");
  // The event's fields come from the parsed body; received_at is ASCII.
  out.append(R"(,"event_id":)");
  append_parsed_string(out, event.event_id);
  out.append(R"(,"team_id":)");
  append_parsed_string(out, event.team_id);
  out.append(R"(,"user_id":)");
  append_parsed_string(out, event.user_id);
  out.append(R"(,"event_type":)");
  append_parsed_string(out, event.event_type);
  out.append(R"(,"received_at":")").append(log::iso8601_utc(delivery.received_at)).append("\"");
  out.append(R"(,"retry_num":)").append(std::to_string(delivery.retry_num));
  out.append(R"(,"retry_reason":)")
      .append(delivery.retry_reason ? json_string(*delivery.retry_reason) : "null");
  // The JSON parser (slack::classify) skips a UTF-8 byte order mark before the document; inside
  // the envelope it would make the record unreadable, and the event lost after ingest
  // acknowledged it.
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (raw_body.starts_with(kByteOrderMark)) raw_body.remove_prefix(kByteOrderMark.size());
  out.append(R"(,"payload":)").append(raw_body).append("}");
  return out;
}

std::string partition_key(const slack::EventCallback& event) {
  return event.team_id + ":" + event.user_id;
}

std::optional<std::string_view> raw_payload(std::string_view envelope) {
  // Inside a JSON string a quote is escaped, so the first `,"payload":` is the member itself.
  constexpr std::string_view kMember = R"(,"payload":)";
  const auto at = envelope.find(kMember);
  if (at == std::string_view::npos || !envelope.ends_with('}')) return std::nullopt;
  const std::string_view body =
      envelope.substr(at + kMember.size(), envelope.size() - at - kMember.size() - 1);
  // The body as Slack signed it, whitespace around the object included (JSON allows it, and
  // ingest embeds the body byte for byte).
  constexpr std::string_view kWhitespace = " \t\r\n";
  const auto first = body.find_first_not_of(kWhitespace);
  const auto last = body.find_last_not_of(kWhitespace);
  if (first == std::string_view::npos || body[first] != '{' || body[last] != '}') {
    return std::nullopt;
  }
  return body;
}

DecodeResult<Envelope> decode_envelope(std::string_view value) {
  json envelope;
  try {
    envelope = json::parse(value);
  } catch (const json::exception& error) {
    // parse_error, and out_of_range for a number no double holds ("1e999").
    return DecodeError{"bad_json", std::string("not JSON: ") + error.what()};
  }
  if (!envelope.is_object()) return DecodeError{"bad_json", "not a JSON object"};

  const json* schema = member(envelope, "schema");
  if (schema == nullptr) return DecodeError{"missing_field", "schema is missing"};
  if (!schema->is_string() || schema->get<std::string>() != kEnvelopeSchema) {
    return DecodeError{"unknown_schema", "unknown schema version " + schema->dump() +
                                             " (expected \"" + std::string(kEnvelopeSchema) +
                                             "\")"};
  }
  Envelope out;
  if (auto error = required_string(envelope, "event_id", out.event_id)) return *error;
  const json* payload = member(envelope, "payload");
  if (payload == nullptr) return missing("payload");
  if (!payload->is_object()) return bad_value("payload", "is not an object");
  if (auto error = required_string(envelope, "team_id", out.team_id)) return *error;
  out.user_id = metadata_string(envelope, "user_id");
  out.event_type = metadata_string(envelope, "event_type");
  const std::string received_at = metadata_string(envelope, "received_at");
  if (!received_at.empty()) out.received_at = log::parse_iso8601_utc(received_at);
  if (const json* retry_num = member(envelope, "retry_num");
      retry_num != nullptr && retry_num->is_number_integer() &&
      retry_num->get<std::int64_t>() >= 0 &&
      retry_num->get<std::int64_t>() <= std::numeric_limits<int>::max()) {
    out.retry_num = retry_num->get<int>();
  }
  if (const json* reason = member(envelope, "retry_reason");
      reason != nullptr && reason->is_string()) {
    out.retry_reason = reason->get<std::string>();
  }
  out.payload = std::move(envelope["payload"]);
  return out;
}

}  // namespace tracker::messages
