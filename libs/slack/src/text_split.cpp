#include <tracker/slack/text_split.hpp>

#include <array>
#include <cstdint>

namespace tracker::slack {

namespace {

bool continuation(unsigned char byte) {
  return (byte & 0xC0U) == 0x80U;
}

// The code point starting at `at` (U+FFFD for a malformed sequence), and its length.
std::pair<char32_t, std::size_t> decode(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  std::size_t length = 1;
  char32_t value = lead;
  if (lead >= 0xF0U) {
    length = 4;
    value = lead & 0x07U;
  } else if (lead >= 0xE0U) {
    length = 3;
    value = lead & 0x0FU;
  } else if (lead >= 0xC0U) {
    length = 2;
    value = lead & 0x1FU;
  } else {
    return {lead < 0x80U ? value : U'\uFFFD', 1};
  }
  if (at + length > text.size()) return {U'\uFFFD', 1};
  for (std::size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[at + i]);
    if (!continuation(byte)) return {U'\uFFFD', i};
    value = (value << 6U) | (byte & 0x3FU);
  }
  return {value, length};
}

// Code points that attach to the one before them.
bool attaches_backwards(char32_t c) {
  struct Range {
    char32_t first, last;
  };
  static constexpr std::array<Range, 12> kRanges = {{
      {0x0300, 0x036F},    // combining diacritical marks
      {0x1160, 0x11FF},    // Hangul jungseong and jongseong (conjoining vowels, finals)
      {0x1AB0, 0x1AFF},    // combining diacritical marks extended
      {0x1DC0, 0x1DFF},    // combining diacritical marks supplement
      {0x200C, 0x200D},    // zero-width non-joiner and joiner
      {0x20D0, 0x20FF},    // combining marks for symbols
      {0xD7B0, 0xD7FF},    // Hangul jamo extended-B
      {0xFE00, 0xFE0F},    // variation selectors
      {0xFE20, 0xFE2F},    // combining half marks
      {0x1F3FB, 0x1F3FF},  // emoji skin-tone modifiers
      {0xE0020, 0xE007F},  // tag characters (flag sequences)
      {0xE0100, 0xE01EF},  // variation selectors supplement
  }};
  for (const auto& range : kRanges) {
    if (c >= range.first && c <= range.last) return true;
  }
  return false;
}

// The byte offset just past the first `characters` characters (text.size() if fewer).
std::size_t offset_after(std::string_view text, std::size_t characters) {
  std::size_t at = 0;
  for (std::size_t n = 0; at < text.size() && n < characters; ++n) {
    at += decode(text, at).second;
  }
  return at;
}

// May a part end at byte `at` (the start of a code point) without tearing a character apart?
bool clean_cut(std::string_view text, std::size_t at) {
  if (at == 0 || at >= text.size()) return true;
  if (attaches_backwards(decode(text, at).first)) return false;
  std::size_t previous = at - 1;
  while (previous > 0 && continuation(static_cast<unsigned char>(text[previous]))) --previous;
  return decode(text, previous).first != U'\u200D';
}

// Where the first part of `text` ends, within `window` bytes, and how many bytes of break
// follow it. `window` < text.size().
std::pair<std::size_t, std::size_t> cut_point(std::string_view text, std::size_t window) {
  const std::string_view head = text.substr(0, window + 1);  // a break may start at `window`
  if (const auto at = head.rfind("\n\n"); at != std::string_view::npos && at > 0 && at <= window) {
    return {at, 2};
  }
  if (const auto at = head.rfind('\n'); at != std::string_view::npos && at > 0 && at <= window) {
    return {at, 1};
  }
  // The last space outside <...>: Slack's links and mentions ("<https://x|a label>") stay whole.
  std::size_t last_space = std::string_view::npos;
  int depth = 0;
  for (std::size_t i = 0; i <= window && i < text.size(); ++i) {
    if (text[i] == '<') ++depth;
    if (text[i] == '>' && depth > 0) --depth;
    if (text[i] == ' ' && depth == 0 && i > 0) last_space = i;
  }
  if (last_space != std::string_view::npos) return {last_space, 1};
  std::size_t at = window;
  while (at > 0 && !clean_cut(text, at)) {
    --at;
    while (at > 0 && continuation(static_cast<unsigned char>(text[at]))) --at;
  }
  if (at == 0) at = window;  // one "character" longer than a part: cut it anyway
  return {at, 0};
}

}  // namespace

std::size_t character_count(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t at = 0; at < text.size(); at += decode(text, at).second) ++count;
  return count;
}

std::vector<std::string> split_message(std::string_view text, std::size_t max_characters) {
  if (max_characters == 0) max_characters = 1;
  std::vector<std::string> parts;
  while (true) {
    const std::size_t window = offset_after(text, max_characters);
    if (window >= text.size()) {
      if (!text.empty() || parts.empty()) parts.emplace_back(text);
      return parts;
    }
    const auto [at, gap] = cut_point(text, window);
    parts.emplace_back(text.substr(0, at));
    text.remove_prefix(at + gap);
  }
}

}  // namespace tracker::slack
