#include <tracker/worker/event.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>

#include <nlohmann/json.hpp>

#include <tracker/messages/envelope.hpp>

namespace tracker::worker {

namespace {

using nlohmann::json;
using std::chrono::microseconds;

// Subtypes that are still something a person wrote: a reply also sent to the channel, a
// message with a file attached, a /me message.
constexpr std::string_view kAuthoredSubtypes[] = {"thread_broadcast", "file_share", "me_message"};

bool parse_digits(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

const json* member(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

const std::string* string_member(const json& object, const char* name) {
  const json* value = member(object, name);
  return value != nullptr && value->is_string() ? value->get_ptr<const std::string*>() : nullptr;
}

// Thrown inside decode() only, and turned into a DecodeError there.
struct Invalid {
  std::string reason;
  std::string error;
};

const std::string& require_string(const json& object, const char* name, std::string_view where) {
  const json* value = member(object, name);
  if (value == nullptr) {
    throw Invalid{"missing_field", std::string(where) + "." + name + " is missing"};
  }
  if (!value->is_string()) {
    throw Invalid{"bad_value", std::string(where) + "." + name + " is not a string"};
  }
  const auto& text = *value->get_ptr<const std::string*>();
  if (text.empty()) throw Invalid{"bad_value", std::string(where) + "." + name + " is empty"};
  return text;
}

Micros require_ts(const json& object, const char* name, std::string_view where) {
  const std::string& text = require_string(object, name, where);
  const auto time = parse_slack_ts(text);
  if (!time) {
    throw Invalid{"bad_value", std::string(where) + "." + name + " is not a Slack timestamp: \"" +
                                   text.substr(0, 40) + "\""};
  }
  return *time;
}

const json& require_object(const json& object, const char* name, std::string_view where) {
  const json* value = member(object, name);
  if (value == nullptr) {
    throw Invalid{"missing_field", std::string(where) + "." + name + " is missing"};
  }
  if (!value->is_object()) {
    throw Invalid{"bad_value", std::string(where) + "." + name + " is not an object"};
  }
  return *value;
}

std::string string_or_empty(const json& object, const char* name) {
  const auto* value = string_member(object, name);
  return value != nullptr ? *value : std::string{};
}

bool allowed(const std::vector<std::string>& list, std::string_view value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

bool is_bot_message(const json& message) {
  return member(message, "bot_id") != nullptr ||
         string_or_empty(message, "subtype") == "bot_message";
}

// The tracker's own bot user, from the authorizations Slack lists in the event callback.
bool posted_by_tracker(const json& payload, std::string_view user) {
  const json* authorizations = member(payload, "authorizations");
  if (authorizations == nullptr || !authorizations->is_array() || user.empty()) return false;
  for (const auto& authorization : *authorizations) {
    const json* is_bot = member(authorization, "is_bot");
    if (is_bot != nullptr && is_bot->is_boolean() && is_bot->get<bool>() &&
        string_or_empty(authorization, "user_id") == user) {
      return true;
    }
  }
  return false;
}

Change write_change(const std::string& ts, const std::optional<std::string>& thread_ts) {
  return thread_ts && *thread_ts != ts ? Change::reply : Change::message;
}

std::optional<std::string> optional_string(const json& object, const char* name) {
  const auto* value = string_member(object, name);
  if (value == nullptr || value->empty()) return std::nullopt;
  return *value;
}

// Who wrote a message that was deleted: Slack's previous_message says, else the envelope's user.
std::string author_before(const json& event, const messages::Envelope& envelope) {
  const json* previous = member(event, "previous_message");
  std::string user = previous != nullptr ? string_or_empty(*previous, "user") : std::string{};
  return user.empty() ? envelope.user_id : user;
}

// The deletion, as of `event`'s ts, of the message whose ts is holder[ts_field].
MessageDeletion read_deletion(const json& holder, const char* ts_field, std::string_view where,
                              const std::string& team_id, const std::string& channel,
                              const json& event, const messages::Envelope& envelope) {
  MessageDeletion deletion;
  deletion.team_id = team_id;
  deletion.channel_id = channel;
  deletion.ts = require_string(holder, ts_field, where);
  deletion.posted_at = require_ts(holder, ts_field, where);
  deletion.deleted_at = require_ts(event, "ts", "event");
  deletion.user_id = author_before(event, envelope);
  return deletion;
}

// A message as its author wrote it (a new message, or the `message` of an edit), as of its
// post: the caller sets the kind of change and, for an edit, its time. nullopt when the tracker
// itself posted it.
std::optional<MessageWrite> read_message(const json& message, std::string_view where,
                                         const std::string& team_id, const std::string& channel,
                                         const json& payload) {
  MessageWrite write;
  write.team_id = team_id;
  write.channel_id = channel;
  write.user_id = require_string(message, "user", where);
  if (posted_by_tracker(payload, write.user_id)) return std::nullopt;
  write.ts = require_string(message, "ts", where);
  write.posted_at = require_ts(message, "ts", where);
  write.version_at = write.posted_at;
  write.thread_ts = optional_string(message, "thread_ts");
  write.text = string_or_empty(message, "text");
  write.hints = parse_hints(write.text);
  return write;
}

Event decode_event(const messages::Envelope& envelope, const Filter& filter) {
  Event out;
  out.event_id = envelope.event_id;
  out.received_at = envelope.received_at;
  const json& payload = envelope.payload;
  const json& event = require_object(payload, "event", "payload");
  const std::string& team_id = envelope.team_id;
  const std::string& type = require_string(event, "type", "event");

  if (!allowed(filter.team_ids, team_id)) {
    out.action = Skip{"team_not_allowed", {}};
    return out;
  }
  if (!allowed(filter.app_ids, string_or_empty(payload, "api_app_id"))) {
    out.action = Skip{"app_not_allowed", {}};
    return out;
  }
  if (type != "message") {
    out.action = Skip{"event_type", type};
    return out;
  }
  const std::string& channel = require_string(event, "channel", "event");
  if (!allowed(filter.channels, channel)) {
    out.action = Skip{"channel_not_watched", {}};
    return out;
  }

  const std::string subtype = string_or_empty(event, "subtype");
  if (subtype == "message_changed") {
    const json& message = require_object(event, "message", "event");
    if (is_bot_message(message)) {
      out.action = Skip{"bot", {}};
      return out;
    }
    // Deleting a thread's parent leaves a tombstone in its place, announced as a change.
    if (string_or_empty(message, "subtype") == "tombstone") {
      out.action = read_deletion(message, "ts", "event.message", team_id, channel, event, envelope);
      return out;
    }
    // Slack also sends message_changed when it unfurls a link; only a person's edit carries
    // "edited".
    const json* edited = member(message, "edited");
    if (edited == nullptr) {
      out.action = Skip{"unedited_change", {}};
      return out;
    }
    auto write = read_message(message, "event.message", team_id, channel, payload);
    if (!write) {
      out.action = Skip{"own_post", {}};
      return out;
    }
    write->change = Change::edit;
    // The change event's own ts orders edits: edited.ts is whole seconds, so two edits within a
    // second would tie (and the first would stay), and an edit in the second of its post would
    // look older than the post.
    write->version_at = require_ts(event, "ts", "event");
    write->edited_at = edited->is_object() && member(*edited, "ts") != nullptr
                           ? require_ts(*edited, "ts", "event.message.edited")
                           : write->version_at;
    out.action = std::move(*write);
    return out;
  }
  if (subtype == "message_deleted") {
    const json* previous = member(event, "previous_message");
    if (previous != nullptr && is_bot_message(*previous)) {
      out.action = Skip{"bot", {}};
      return out;
    }
    out.action = read_deletion(event, "deleted_ts", "event", team_id, channel, event, envelope);
    return out;
  }
  if (subtype == "bot_message" || member(event, "bot_id") != nullptr) {
    out.action = Skip{"bot", {}};
    return out;
  }
  if (!subtype.empty() && std::find(std::begin(kAuthoredSubtypes), std::end(kAuthoredSubtypes),
                                    subtype) == std::end(kAuthoredSubtypes)) {
    out.action = Skip{"subtype", subtype};
    return out;
  }
  auto write = read_message(event, "event", team_id, channel, payload);
  if (!write) {
    out.action = Skip{"own_post", {}};
    return out;
  }
  write->change = write_change(write->ts, write->thread_ts);
  out.action = std::move(*write);
  return out;
}

}  // namespace

std::optional<Micros> parse_slack_ts(std::string_view ts) {
  const auto dot = ts.find('.');
  const std::string_view whole = ts.substr(0, dot);
  std::int64_t seconds = 0;
  if (!parse_digits(whole, seconds) || whole.size() > 12) return std::nullopt;
  std::int64_t micros = 0;
  if (dot != std::string_view::npos) {
    const std::string_view fraction = ts.substr(dot + 1);
    if (fraction.empty() || fraction.size() > 6 || !parse_digits(fraction, micros)) {
      return std::nullopt;
    }
    for (std::size_t i = fraction.size(); i < 6; ++i) micros *= 10;
  }
  return Micros{microseconds{seconds * 1'000'000 + micros}};
}

std::string format_utc(Micros time) {
  const auto days = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date{days};
  const std::chrono::hh_mm_ss<microseconds> clock{time - days};
  char buffer[40];
  const int n = std::snprintf(
      buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
      static_cast<int>(clock.seconds().count()),
      static_cast<long long>(clock.subseconds().count()));
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::string_view to_string(Change change) {
  switch (change) {
    case Change::message: return "message";
    case Change::reply: return "reply";
    case Change::edit: return "edit";
    case Change::deletion: return "deletion";
  }
  return "unknown";
}

Decoded decode(std::string_view record, const Filter& filter) {
  auto envelope = messages::decode_envelope(record);
  if (envelope.has_error()) return envelope.error();
  try {
    return decode_event(*envelope, filter);
  } catch (Invalid& invalid) {
    return messages::DecodeError{std::move(invalid.reason), std::move(invalid.error)};
  } catch (const json::exception& error) {
    return messages::DecodeError{"bad_value", error.what()};
  }
}

}  // namespace tracker::worker
