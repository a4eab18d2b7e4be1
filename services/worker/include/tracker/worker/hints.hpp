#pragma once
// What a study message says about itself: how long the person studied ("2h", "1h 30m",
// "45 mins", "1 hour 20 minutes", "90분", "1시간 30분", "1.5시간") and which topics they
// tagged ("#kafka", "#카프카"). Text inside Slack links and mentions (<...>) and inside URLs is
// not read. The full rules, including what is deliberately not a duration, are in hints.cpp.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracker::worker {

struct StudyHints {
  // Durations named in the text, summed; nullopt when none.
  std::optional<int> minutes;
  // Hashtags without '#', ASCII lower-cased, unique, first-seen order.
  std::vector<std::string> topics;
  friend bool operator==(const StudyHints&, const StudyHints&) = default;
};

// Reads Slack message text (UTF-8, mrkdwn-escaped) in one pass. Any byte sequence is safe to
// pass, including truncated or invalid UTF-8; topics are always valid UTF-8.
StudyHints parse_hints(std::string_view text);

}  // namespace tracker::worker
