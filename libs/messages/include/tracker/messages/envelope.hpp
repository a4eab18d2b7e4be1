#pragma once
// Records of the slack-events topic (schemas/messages/slack-event-envelope.v1.schema.json): one
// Slack event_callback as ingest received it, keyed team_id:user_id (partition_key). Ingest
// encodes them; the worker decodes them and reads the payload itself.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <tracker/messages/decode_error.hpp>
#include <tracker/slack/request.hpp>

namespace tracker::messages {

inline constexpr std::string_view kEnvelopeSchema = "slack-event-envelope/v1";

struct Delivery {
  std::chrono::system_clock::time_point received_at;  // nullopt when absent
  int retry_num = 0;                                  // X-Slack-Retry-Num
  std::optional<std::string> retry_reason;            // X-Slack-Retry-Reason
};

// The envelope as JSON text. `raw_body` is embedded byte for byte as "payload" (it was parsed
// by slack::classify(), so it is valid JSON), less a UTF-8 byte order mark before it.
std::string make_envelope(const slack::EventCallback& event, std::string_view raw_body,
                          const Delivery& delivery);

// team_id:user_id, which keeps one person's events in order on one partition.
std::string partition_key(const slack::EventCallback& event);

// The Slack request body inside an envelope, byte for byte as make_envelope embedded it (its last
// member, "payload"), without parsing the envelope; for re-sending a record to ingest. nullopt
// when the record is not such an envelope.
std::optional<std::string_view> raw_payload(std::string_view envelope);

// A decoded envelope. What every reader needs is required (schema, event_id, team_id, an object
// payload); the other fields may be absent, and a field that is present must have its schema's
// type.
struct Envelope {
  std::string event_id;
  std::string team_id;
  std::string user_id;     // empty when absent (events without an acting user)
  std::string event_type;  // empty when absent
  std::optional<std::chrono::system_clock::time_point> received_at;  // nullopt when absent
  int retry_num = 0;                                                 // 0 when absent
  std::optional<std::string> retry_reason;                           // nullopt when absent or null
  nlohmann::json payload;  // the event_callback body, a JSON object
};

// Errors (the worker's dead-letter reasons and metric labels): bad_json (not a JSON object),
// missing_field, unknown_schema, bad_value (a field of the wrong type or empty). The detail
// names the field as "envelope.<name>".
DecodeResult<Envelope> decode_envelope(std::string_view value);

}  // namespace tracker::messages
