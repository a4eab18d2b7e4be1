// The worker's decoding of a slack-events record (services/worker event.cpp, on top of
// messages::decode_envelope): the input is a record value, decoded with no filter and with one.
//
// Checked: decode() never throws (its promise) and an error has one of the four documented
// reasons; a decoded record agrees with decode_envelope() on the event id; a write's posted_at is
// its ts, its hints are parse_hints() of its text, and its ids are non-empty; a deletion's ids
// are non-empty and its posted_at is its ts.
#include <string>
#include <variant>

#include <tracker/messages/envelope.hpp>
#include <tracker/worker/event.hpp>
#include <tracker/worker/hints.hpp>

#include "fuzz_support.hpp"

namespace {

using tracker::fuzz::require;
namespace worker = tracker::worker;

void check(std::string_view record, const worker::Filter& filter) {
  worker::Decoded decoded = worker::decode(record, filter);
  if (!decoded) {
    const std::string& reason = decoded.error().reason;
    require(reason == "bad_json" || reason == "missing_field" || reason == "bad_value" ||
                reason == "unknown_schema",
            "undocumented reason", reason);
    return;
  }
  const auto envelope = tracker::messages::decode_envelope(record);
  require(envelope.has_value(), "worker decoded a record whose envelope does not decode");
  require(decoded->event_id == envelope->event_id && !decoded->event_id.empty(), "event_id");
  if (const auto* write = std::get_if<worker::MessageWrite>(&decoded->action)) {
    require(!write->team_id.empty() && !write->channel_id.empty() && !write->ts.empty(),
            "a write without its ids");
    require(worker::parse_slack_ts(write->ts) == write->posted_at, "posted_at is not ts");
    require(write->hints == worker::parse_hints(write->text), "hints are not of the text");
    if (write->change != worker::Change::edit) {
      require(write->version_at == write->posted_at, "a new message's version is its ts");
    }
  } else if (const auto* deletion = std::get_if<worker::MessageDeletion>(&decoded->action)) {
    require(!deletion->team_id.empty() && !deletion->channel_id.empty() && !deletion->ts.empty(),
            "a deletion without its ids");
    require(worker::parse_slack_ts(deletion->ts) == deletion->posted_at, "deleted posted_at");
  } else {
    require(!std::get<worker::Skip>(decoded->action).reason.empty(), "a skip without a reason");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto record = tracker::fuzz::as_text(data, size);
  check(record, {});
  static const worker::Filter filter{.channels = {"C0STUDY", "C2147483705"},
                                     .team_ids = {"T061EG9R6", "TDAY"},
                                     .app_ids = {"A0TRACKER"}};
  check(record, filter);
  return 0;
}
