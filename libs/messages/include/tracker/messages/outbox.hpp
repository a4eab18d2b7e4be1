#pragma once
// Records of the slack-outbox topic (schemas/messages/slack-outbox.v1.schema.json): what to
// post to Slack, keyed by workspace (outbox_key). Producers encode them; the notifier decodes
// them.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <tracker/messages/decode_error.hpp>

namespace tracker::messages {

inline constexpr std::string_view kOutboxSchema = "slack-outbox/v1";

struct OutboxMessage {
  std::string delivery_id;
  std::string team_id;
  std::string channel;  // C/G/D... channel id, or U/W... user id for a direct message
  std::string text;
  std::optional<nlohmann::json> blocks;
  std::string thread_ts;
  std::optional<std::chrono::system_clock::time_point> created_at;
  std::optional<nlohmann::json> origin;
};

// Errors: invalid_json, unknown_schema, missing_field, invalid_field; the detail names the field.
DecodeResult<OutboxMessage> decode_outbox(std::string_view value);
std::string encode_outbox(const OutboxMessage& message);

// The record key: the workspace (team_id). All of a workspace's posts share a partition, so one
// notifier at a time owns them and paces them to Slack's per-workspace limit, however many
// notifiers run; a channel belongs to one workspace, so its posts keep their order too.
inline std::string outbox_key(const OutboxMessage& message) {
  return message.team_id;
}

// A direct message: Slack opens the app's DM with that user.
bool is_user_id(std::string_view channel);

}  // namespace tracker::messages
