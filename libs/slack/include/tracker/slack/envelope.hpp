#pragma once
// The slack-events topic's message: schemas/messages/slack-event-envelope.v1.schema.json.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <tracker/slack/request.hpp>

namespace tracker::slack {

inline constexpr std::string_view kEnvelopeSchema = "slack-event-envelope/v1";

struct Delivery {
  std::chrono::system_clock::time_point received_at;
  int retry_num = 0;                        // X-Slack-Retry-Num
  std::optional<std::string> retry_reason;  // X-Slack-Retry-Reason
};

// The envelope as JSON text. `raw_body` is embedded byte for byte as "payload" (it was parsed
// by classify(), so it is valid JSON).
std::string make_envelope(const EventCallback& event, std::string_view raw_body,
                          const Delivery& delivery);

// team_id:user_id, which keeps one person's events in order on one partition.
std::string partition_key(const EventCallback& event);

}  // namespace tracker::slack
