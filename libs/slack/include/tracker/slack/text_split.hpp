#pragma once
// Splitting a long message into parts Slack displays whole. Slack truncates `text` past 40,000
// characters and advises at most 4,000 per message, counting characters, not bytes.
//
// A part ends, by preference, at a paragraph break ("\n\n"), else a line break, else a space
// outside Slack's <...> links and mentions, else between two characters; never inside a UTF-8
// sequence, and never before a combining mark, a Hangul vowel or final consonant jamo, a
// variation selector or an emoji modifier, or after a zero-width joiner, so that what the
// reader sees as one character stays whole. The break itself is dropped; nothing else is.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tracker::slack {

inline constexpr std::size_t kMessagePartCharacters = 4'000;

// Characters (Unicode code points) in UTF-8 text; a stray byte counts as one.
std::size_t character_count(std::string_view text);

// Parts of at most `max_characters` (> 0) characters each, in order; `text` itself when it fits.
std::vector<std::string> split_message(std::string_view text,
                                       std::size_t max_characters = kMessagePartCharacters);

}  // namespace tracker::slack
