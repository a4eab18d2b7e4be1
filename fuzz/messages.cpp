// The topic records' codecs (libs/messages): summary requests, the Slack outbox, slash commands
// and the slack-events envelope. The input is a record value, offered to every decoder.
//
// Checked: no decoder throws, and each error has a documented reason; what decodes encodes to a
// record that decodes again, and encodes to the same bytes (decode -> encode -> decode -> encode
// is stable: nothing read is lost or changed by a second trip); an envelope's key fields survive.
#include <string>

#include <tracker/messages/command.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/messages/summary_request.hpp>

#include "fuzz_support.hpp"

namespace {

using tracker::fuzz::require;
namespace messages = tracker::messages;

void require_reason(const messages::DecodeError& error) {
  require(error.reason == "invalid_json" || error.reason == "unknown_schema" ||
              error.reason == "missing_field" || error.reason == "invalid_field",
          "undocumented reason", error.reason);
}

// decode -> encode -> decode -> encode: the two encodings are the same bytes.
template <typename Decode, typename Encode>
void round_trip(std::string_view value, Decode decode, Encode encode, const char* what) {
  const auto first = decode(value);
  if (!first) {
    require_reason(first.error());
    return;
  }
  const std::string encoded = encode(*first);
  const auto second = decode(encoded);
  require(second.has_value(), what, encoded);
  require(encode(*second) == encoded, what, encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto value = tracker::fuzz::as_text(data, size);
  round_trip(value, messages::decode_summary_request, messages::encode_summary_request,
             "summary request does not survive a round trip");
  round_trip(value, messages::decode_outbox, messages::encode_outbox,
             "outbox message does not survive a round trip");
  round_trip(value, messages::decode_command, messages::encode_command,
             "command does not survive a round trip");
  if (const auto command = messages::decode_command(value)) {
    require(messages::command_key(*command) == command->team_id + ":" + command->user_id,
            "command key");
  }

  const auto envelope = messages::decode_envelope(value);
  if (!envelope) {
    const std::string& reason = envelope.error().reason;
    require(reason == "bad_json" || reason == "missing_field" || reason == "unknown_schema" ||
                reason == "bad_value",
            "undocumented envelope reason", reason);
    return 0;
  }
  require(!envelope->event_id.empty() && !envelope->team_id.empty(), "envelope ids");
  require(envelope->payload.is_object(), "envelope payload is not an object");
  require(envelope->retry_num >= 0, "negative retry_num");
  // A record ingest would write for this event: decoding it gives the same fields back.
  const tracker::slack::EventCallback event{envelope->event_id, envelope->team_id,
                                            envelope->user_id, envelope->event_type};
  const std::string payload =
      envelope->payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string rewritten = messages::make_envelope(
      event, payload,
      messages::Delivery{
          .received_at = envelope->received_at.value_or(std::chrono::system_clock::time_point{}),
          .retry_num = envelope->retry_num,
          .retry_reason = envelope->retry_reason});
  const auto again = messages::decode_envelope(rewritten);
  require(again.has_value(), "a rewritten envelope does not decode", rewritten);
  require(again->event_id == envelope->event_id && again->team_id == envelope->team_id &&
              again->user_id == envelope->user_id && again->event_type == envelope->event_type &&
              again->retry_num == envelope->retry_num &&
              again->retry_reason == envelope->retry_reason,
          "a rewritten envelope's fields differ", rewritten);
  require(messages::raw_payload(rewritten) == std::optional<std::string_view>(payload),
          "raw_payload of a rewritten envelope", rewritten);
  return 0;
}
