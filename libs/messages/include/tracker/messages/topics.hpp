#pragma once
// Topic names as in schemas/topics.json (the file the local stack and deploy manifests read).
#include <string_view>

namespace tracker::messages::topics {

inline constexpr std::string_view kSlackEvents = "slack-events";
inline constexpr std::string_view kSlackEventsDeadLetters = "slack-events.dlq";
inline constexpr std::string_view kSummaryRequests = "summary-requests";
inline constexpr std::string_view kSummaryRequestsDeadLetters = "summary-requests.dlq";
inline constexpr std::string_view kSlackOutbox = "slack-outbox";
inline constexpr std::string_view kSlackOutboxDeadLetters = "slack-outbox.dlq";
inline constexpr std::string_view kSlackCommands = "slack-commands";

}  // namespace tracker::messages::topics
