#pragma once
// What one slack-events record asks of the study log: decoded from ingest's envelope
// (schemas/messages/slack-event-envelope.v1.schema.json) into a change to a row, a reason to
// skip it, or an error that sends it to the dead-letter topic. The envelope itself is decoded by
// tracker::messages; this reads its payload.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tracker/messages/decode_error.hpp>

#include <tracker/worker/hints.hpp>

namespace tracker::worker {

using Micros = std::chrono::sys_time<std::chrono::microseconds>;

// Slack's message timestamps ("1731974400.000200") are seconds with six decimals, unique per
// channel; they convert to a UTC time exactly, to the microsecond. nullopt if malformed.
std::optional<Micros> parse_slack_ts(std::string_view ts);
// "2024-11-19T00:00:00.000200Z": exact, for PostgreSQL's timestamptz.
std::string format_utc(Micros time);

enum class Change { message, reply, edit, deletion };
std::string_view to_string(Change change);

// A message as it now reads: a new message or reply, or the new text of an edited one.
struct MessageWrite {
  Change change = Change::message;
  std::string team_id;
  std::string channel_id;
  std::string user_id;
  std::string ts;
  std::optional<std::string> thread_ts;  // set for replies (and thread parents Slack marks so)
  std::string text;
  Micros posted_at{};
  std::optional<Micros> edited_at;
  Micros version_at{};  // posted_at, or the change event's ts for an edit
  StudyHints hints;
};

// A deleted message: its row keeps no text.
struct MessageDeletion {
  std::string team_id;
  std::string channel_id;
  std::string user_id;  // the deleted message's author when Slack says, else the envelope's
  std::string ts;       // the deleted message's ts
  Micros posted_at{};
  Micros deleted_at{};  // the deletion event's ts; also its version
};

// Not a study log; `reason` is a metric label, `subtype` names the message subtype or event type
// where that is the reason.
struct Skip {
  std::string reason;
  std::string subtype;
};

struct Event {
  std::string event_id;
  std::optional<std::chrono::system_clock::time_point> received_at;  // when ingest got it
  std::variant<MessageWrite, MessageDeletion, Skip> action;
};

// An error is a record that cannot be processed: it goes to the dead-letter topic with its
// detail; its reason is a short metric label (bad_json, missing_field, bad_value,
// unknown_schema).
using Decoded = messages::DecodeResult<Event>;

// Which events the worker keeps. Empty lists allow everything.
struct Filter {
  std::vector<std::string> channels;  // channel ids whose messages are study logs
  std::vector<std::string> team_ids;  // workspaces the tracker serves
  std::vector<std::string> app_ids;   // api_app_id of the tracker's Slack app
};

// Decodes one record value. Never throws for bad input.
Decoded decode(std::string_view record, const Filter& filter);

}  // namespace tracker::worker
