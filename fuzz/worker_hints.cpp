// The worker's duration and topic hints (services/worker hints.cpp) and Slack timestamps
// (event.cpp): the input is a message's text, read as hints and as a timestamp.
//
// Checked, the rules hints.cpp states: minutes within [0, 24 h]; at most 32 topics, each
// non-empty, at most 100 bytes, valid UTF-8, without '#', without ASCII capitals, with a letter
// (not an issue number), and unique. A timestamp that parses formats as UTC and reads back the
// same microseconds.
#include <cstdio>
#include <set>
#include <string>

#include <tracker/worker/event.hpp>
#include <tracker/worker/hints.hpp>

#include "fuzz_support.hpp"

namespace {

using tracker::fuzz::require;

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    }
    if ((byte & 0xE0U) == 0xC0U) {
      length = 2;
      code = byte & 0x1FU;
    } else if ((byte & 0xF0U) == 0xE0U) {
      length = 3;
      code = byte & 0x0FU;
    } else if ((byte & 0xF8U) == 0xF0U) {
      length = 4;
      code = byte & 0x07U;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0U) != 0x80U) return false;
      code = (code << 6U) | (next & 0x3FU);
    }
    const std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < least[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = tracker::fuzz::as_text(data, size);
  const auto hints = tracker::worker::parse_hints(text);
  if (hints.minutes) {
    require(*hints.minutes >= 0 && *hints.minutes <= 24 * 60, "minutes out of [0, 1440]",
            std::to_string(*hints.minutes));
  }
  require(hints.topics.size() <= 32, "more than 32 topics");
  std::set<std::string> seen;
  for (const auto& topic : hints.topics) {
    require(!topic.empty() && topic.size() <= 100, "topic length", topic);
    require(valid_utf8(topic), "topic is not valid UTF-8", topic);
    require(topic.find('#') == std::string::npos, "topic with '#'", topic);
    bool letter = false;
    for (const char c : topic) {
      require(!(c >= 'A' && c <= 'Z'), "topic with an ASCII capital", topic);
      if ((c >= 'a' && c <= 'z') || static_cast<unsigned char>(c) >= 0x80) letter = true;
    }
    require(letter, "topic without a letter", topic);
    require(seen.insert(topic).second, "duplicate topic", topic);
  }
  require(tracker::worker::parse_hints(text) == hints, "parse_hints is not deterministic");

  if (const auto ts = tracker::worker::parse_slack_ts(text)) {
    const auto count = ts->time_since_epoch().count();
    require(count >= 0, "negative Slack timestamp");
    char again[48];
    std::snprintf(again, sizeof again, "%lld.%06lld", static_cast<long long>(count / 1'000'000),
                  static_cast<long long>(count % 1'000'000));
    require(tracker::worker::parse_slack_ts(again) == ts, "Slack timestamp round trip", again);
    const std::string utc = tracker::worker::format_utc(*ts);
    require(utc.size() >= 27 && utc.back() == 'Z', "format_utc", utc);
  }
  return 0;
}
